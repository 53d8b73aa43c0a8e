"""Members and the ledger of their money.

A member is written when its applicant is accepted, in the acceptance's own transaction (`activation`). Every
movement of money is a ledger entry under the member, keyed by its idempotent reference and written only if that
reference is new, in one transaction with the member's balance and sums (`entry`) and a shard of the programme's
total for its kind: a repeated request, a redelivered message or a retried chunk writes nothing twice, and the
balance is only ever moved by a conditional write, so it never goes below zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from functions.domain.membership import (
    BALANCE_EFFECT,
    MEMBERSHIP_TRANSITIONS,
    LedgerKind,
    LedgerTotals,
    Membership,
    MembershipEvent,
    MembershipReason,
    MembershipState,
    first_purchase_deadline,
    grant_ref,
)
from functions.store.models import (
    CounterRecord,
    IdentityGuardRecord,
    LedgerEntryRecord,
    MemberRecord,
    bind,
    card_guard_key,
    cohort_key,
    counter_shard,
    ledger_counter_key,
)
from functions.store.transactions import Build

COHORT_SHARDS = 32

Seen = TypeVar("Seen")


def cohort_shard(applicant_id: str) -> int:
    return int(applicant_id[:2], 16) * COHORT_SHARDS // 256


def _entity(record: MemberRecord) -> Membership:
    return Membership(
        applicant_id=record.applicant_id,
        card_number=record.card_number,
        wave=int(record.wave),
        state=MembershipState(record.state),
        reason=MembershipReason(record.reason) if record.reason else None,
        totals=LedgerTotals(
            granted=int(record.granted or 0),
            balance=int(record.balance or 0),
            purchased=int(record.purchased or 0),
            refunded=int(record.refunded or 0),
            returned=int(record.returned or 0),
        ),
        accepted_at=record.accepted_at,
        first_purchase_deadline=record.first_purchase_deadline,
        live_purchases=int(record.live_purchases or 0),
        first_purchase_at=record.first_purchase_at,
        first_completed_at=record.first_completed_at,
        first_reviewed_at=record.first_reviewed_at,
        revoked_at=record.revoked_at,
        revoked_by=record.revoked_by,
        revoked_note=record.revoked_note,
    )


def find(applicant_id: str) -> Membership | None:
    bind()
    try:
        return _entity(MemberRecord.get(applicant_id, consistent_read=True))
    except DoesNotExist:
        return None


def find_by_card(card_number: str) -> Membership | None:
    """The member holding `card_number`, through the card's guard item (written when the card was issued)."""
    bind()
    try:
        guard = IdentityGuardRecord.get(card_guard_key(card_number), consistent_read=True)
    except DoesNotExist:
        return None
    return find(guard.applicant_id)


def cohort(wave: int, shard: int, *, after: str | None = None, limit: int = 500) -> tuple[list[Membership], str | None]:
    """One page of the members accepted in `wave` whose ids fall in `shard`, and where the next page starts (None
    at the end). The index is eventually consistent: callers decide by conditional writes, not by what it says."""
    return cohort_as(_entity, wave, shard, after=after, limit=limit)


def cohort_as(
    entity: Callable[[MemberRecord], Seen], wave: int, shard: int, *, after: str | None, limit: int
) -> tuple[list[Seen], str | None]:
    """`cohort`, each member seen as `entity` makes it (another part of the store's view of a member)."""
    bind()
    start = {"cohort": {"S": cohort_key(wave, shard)}, "applicant_id": {"S": after}} if after else None
    page = MemberRecord.by_cohort.query(cohort_key(wave, shard), limit=limit, last_evaluated_key=start)
    found = [entity(record) for record in page]
    last = page.last_evaluated_key
    return found, (last["applicant_id"]["S"] if last else None)


def all_members() -> Iterator[Membership]:
    """Every member (`GET /admin/ledger`'s per-member check), one scan."""
    bind()
    for record in MemberRecord.scan():
        yield _entity(record)


# --- the ledger ---------------------------------------------------------------------------------------------------


def _counter_shards() -> int:
    return bind().counter_shards


def entry(applicant_id: str, ref: str, kind: LedgerKind, amount: int, now: dt.datetime) -> Build:
    """The transaction's part that appends one ledger entry (only if `ref` is new for this member) and adds its
    amount to the programme's total for its kind. The member's own balance and sums move in the same transaction,
    by the caller's conditional update of the member."""

    def appending(transaction: TransactWrite) -> None:
        transaction.save(
            LedgerEntryRecord(applicant_id=applicant_id, ref=ref, kind=kind.value, amount=amount, at=now),
            condition=LedgerEntryRecord.ref.does_not_exist(),
        )
        transaction.update(
            CounterRecord(counter=ledger_counter_key(kind.value, counter_shard(applicant_id))),
            actions=[CounterRecord.total.add(amount)],
        )

    return appending


# The member's own sum that each kind of entry adds to (incentives are counted apart, by the payments).
_MEMBER_SUM = {
    LedgerKind.GRANT: MemberRecord.granted,
    LedgerKind.PURCHASE: MemberRecord.purchased,
    LedgerKind.REFUND: MemberRecord.refunded,
    LedgerKind.RETURN: MemberRecord.returned,
}


def moved_by(*entries: tuple[LedgerKind, int]) -> list[Any]:
    """The member's update for the ledger entries its transaction appends: each kind's sum, and the balance moved by
    each kind's sign (`BALANCE_EFFECT`, the one place the signs are applied), netted into one action as DynamoDB
    allows one action per attribute."""
    actions: list[Any] = [_MEMBER_SUM[kind].add(amount) for kind, amount in entries]
    net = sum(BALANCE_EFFECT[kind] * amount for kind, amount in entries)
    if net:
        actions.append(MemberRecord.balance.add(net))
    return actions


def ledger_totals() -> dict[LedgerKind, int]:
    """The programme's total of each kind of entry, from the counters the entries moved."""
    shards = _counter_shards()
    totals = dict.fromkeys(LedgerKind, 0)
    keys = [ledger_counter_key(kind.value, shard) for kind in LedgerKind for shard in range(shards)]
    bind()
    for record in CounterRecord.batch_get(keys):
        kind = LedgerKind(record.counter.removeprefix("ledger:").split("#", 1)[0])
        totals[kind] += int(record.total)
    return totals


def entries(applicant_id: str) -> list[tuple[str, LedgerKind, int, dt.datetime]]:
    """A member's ledger entries, (ref, kind, amount, at), in reference order."""
    bind()
    return [
        (record.ref, LedgerKind(record.kind), int(record.amount), record.at)
        for record in LedgerEntryRecord.query(applicant_id, consistent_read=True)
    ]


# --- activation ---------------------------------------------------------------------------------------------------


def activation(
    applicant_id: str, card_number: str, wave: int, *, balance: int, deadline_days: int, now: dt.datetime
) -> Build:
    """The acceptance transaction's part that activates the membership: the member, ACTIVE with the training
    balance, and its `GRANT` entry. Written only once (a retried chunk's acceptance is refused as a whole)."""
    member = MemberRecord(
        applicant_id=applicant_id,
        card_number=card_number,
        wave=wave,
        cohort=cohort_key(wave, cohort_shard(applicant_id)),
        state=MEMBERSHIP_TRANSITIONS[MembershipEvent.ACTIVATE].target,
        granted=balance,
        balance=balance,
        purchased=0,
        refunded=0,
        returned=0,
        live_purchases=0,
        accepted_at=now,
        first_purchase_deadline=first_purchase_deadline(now, deadline_days),
        updated_at=now,
    )
    grant = entry(applicant_id, grant_ref(), LedgerKind.GRANT, balance, now)

    def activating(transaction: TransactWrite) -> None:
        transaction.save(member, condition=MemberRecord.applicant_id.does_not_exist())
        grant(transaction)

    return activating
