"""Purchases partners make with the member's consent, and the money each one moves.

Each operation is one conditional write, or one transaction when several items change, from the states of
`functions.domain.membership.PURCHASE_TRANSITIONS`. A confirmation debits the member with a compare-and-set of the
balance it read (so racing confirmations cannot overdraw: the second finds the balance moved and reads again), in
the same transaction as the purchase, its ledger entry and the voucher's uniqueness guard. A certificate id is
taken once per partner, by a guard item in the completion's transaction. A member's first purchase, completion and
review are counted in the funnel once, by a condition on the member's first-time mark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from functions.domain.lifecycle import FunnelStage
from functions.domain.membership import (
    PURCHASE_TRANSITIONS,
    LedgerKind,
    Membership,
    MembershipState,
    Purchase,
    PurchaseEvent,
    PurchaseStatus,
    purchase_ref,
    refund_ref,
    refund_return_ref,
)
from functions.store import funnel, members
from functions.store.models import (
    IdentityGuardRecord,
    MemberRecord,
    PurchaseRecord,
    bind,
    certificate_key,
    purchase_ref_key,
    voucher_guard_key,
)
from functions.store.transactions import Build, committed, transact, update_if


def _entity(record: PurchaseRecord) -> Purchase:
    return Purchase(
        purchase_id=record.purchase_id,
        partner_id=str(record.partner_id),
        purchase_ref=str(record.purchase_ref),
        applicant_id=str(record.applicant_id),
        course_id=str(record.course_id),
        course_title=str(record.course_title),
        price=int(record.price),
        status=PurchaseStatus(record.status),
        created_at=record.created_at,
        code_hash=str(record.code_hash),
        code_expires_at=record.code_expires_at,
        minimum_hours=int(record.minimum_hours or 0),
        code_tries=int(record.code_tries or 0),
        code_sealed=record.code_sealed,
        code_sent_at=record.code_sent_at,
        voucher_code=record.voucher_code,
        balance_after=None if record.balance_after is None else int(record.balance_after),
        confirmed_at=record.confirmed_at,
        cancelled_at=record.cancelled_at,
        completed_at=record.completed_at,
        certificate_id=record.certificate_id,
        rating=None if record.rating is None else int(record.rating),
        comment=record.comment,
        reviewed_at=record.reviewed_at,
    )


def find(purchase_id: str) -> Purchase | None:
    bind()
    try:
        record = PurchaseRecord.get(purchase_id, consistent_read=True)
    except DoesNotExist:
        return None
    return None if record.points_to is not None else _entity(record)  # a reference item is no purchase


def for_member(applicant_id: str) -> list[Purchase]:
    """The member's purchases (the index is eventually consistent: for showing, not for deciding)."""
    bind()
    return [_entity(record) for record in PurchaseRecord.by_member.query(applicant_id)]


def find_by_ref(partner_id: str, purchase_ref_: str) -> Purchase | None:
    """The purchase the partner asked for with its reference `purchase_ref_`, if any."""
    bind()
    try:
        reference = PurchaseRecord.get(purchase_ref_key(partner_id, purchase_ref_), consistent_read=True)
    except DoesNotExist:
        return None
    return find(str(reference.points_to))


def certified(partner_id: str, certificate_id: str) -> str | None:
    """The id of the purchase the partner reported certificate `certificate_id` for, if any."""
    bind()
    try:
        guard = PurchaseRecord.get(certificate_key(partner_id, certificate_id), consistent_read=True)
    except DoesNotExist:
        return None
    return str(guard.points_to)


def request(purchase: Purchase, *limits: Build) -> Purchase | None:
    """Stores a new purchase AWAITING_CONFIRMATION with its partner's reference, both only if new, in one
    transaction with `limits` (the slots it takes); the purchase stored for that reference (this one, or the first
    one the partner asked for with it). None when a slot was taken meanwhile: nothing was stored."""
    bind()
    record = PurchaseRecord(
        purchase_id=purchase.purchase_id,
        applicant_id=purchase.applicant_id,
        partner_id=purchase.partner_id,
        purchase_ref=purchase.purchase_ref,
        course_id=purchase.course_id,
        course_title=purchase.course_title,
        price=purchase.price,
        minimum_hours=purchase.minimum_hours,
        status=PURCHASE_TRANSITIONS[PurchaseEvent.REQUEST].target,
        created_at=purchase.created_at,
        code_hash=purchase.code_hash,
        code_sealed=purchase.code_sealed,
        code_expires_at=purchase.code_expires_at,
        code_tries=0,
    )
    key = purchase_ref_key(purchase.partner_id, purchase.purchase_ref)
    reference = PurchaseRecord(purchase_id=key, partner_id=purchase.partner_id, points_to=purchase.purchase_id)

    def storing(transaction: TransactWrite) -> None:
        transaction.save(record, condition=PurchaseRecord.purchase_id.does_not_exist())
        transaction.save(reference, condition=PurchaseRecord.purchase_id.does_not_exist())

    if committed(transact(storing, *limits), "purchase request"):
        return purchase
    return find_by_ref(purchase.partner_id, purchase.purchase_ref)


def count_code_try(purchase_id: str) -> int | None:
    """Counts one try at the purchase's code before it is compared, atomically: the count including this try
    (None once the purchase is no longer awaiting its code)."""
    record = PurchaseRecord(purchase_id=purchase_id)
    awaiting = PurchaseRecord.status == PurchaseStatus.AWAITING_CONFIRMATION.value
    if not update_if(record, [PurchaseRecord.code_tries.add(1)], awaiting):
        return None
    return int(record.code_tries)


def mark_code_sent(purchase_id: str, now: dt.datetime) -> bool:
    """Takes the one sending of the purchase's code while it awaits confirmation: the sealed code is dropped and
    the time noted in one conditional write. False: sent already, or the purchase moved on."""
    return update_if(
        PurchaseRecord(purchase_id=purchase_id),
        [PurchaseRecord.code_sent_at.set(now), PurchaseRecord.code_sealed.remove()],
        (PurchaseRecord.status == PurchaseStatus.AWAITING_CONFIRMATION.value)
        & PurchaseRecord.code_sent_at.does_not_exist(),
    )


def unmark_code_sent(purchase_id: str, sealed: str, marked_at: dt.datetime) -> None:
    """The delivery failed: the code is unsent again (sealed as before), for the message's next delivery."""
    update_if(
        PurchaseRecord(purchase_id=purchase_id),
        [PurchaseRecord.code_sealed.set(sealed), PurchaseRecord.code_sent_at.remove()],
        PurchaseRecord.code_sent_at == marked_at,
    )


# --- the purchase's moves -----------------------------------------------------------------------------------------


def _from(event: PurchaseEvent, purchase: Purchase) -> tuple[Condition, Any]:
    """The condition that the purchase is still as read (in a source state of `event`) and its move's action."""
    move = PURCHASE_TRANSITIONS[event]
    if purchase.status not in move.sources:
        raise ValueError(f"{event} cannot happen to a purchase {purchase.status}")
    return PurchaseRecord.status == purchase.status.value, PurchaseRecord.status.set(move.target)


def _update_purchase(purchase_id: str, actions: Sequence[Any], condition: Condition) -> Build:
    def updating(transaction: TransactWrite) -> None:
        transaction.update(PurchaseRecord(purchase_id=purchase_id), actions=list(actions), condition=condition)

    return updating


def _update_member(applicant_id: str, actions: Sequence[Any], condition: Condition, now: dt.datetime) -> Build:
    def updating(transaction: TransactWrite) -> None:
        transaction.update(
            MemberRecord(applicant_id=applicant_id),
            actions=[*actions, MemberRecord.updated_at.set(now)],
            condition=condition,
        )

    return updating


def _first_time(
    member: Membership, seen: dt.datetime | None, mark: Attribute[Any], stage: FunnelStage, now: dt.datetime
) -> list[Build]:
    """The member's first time (`seen` is None as read): its mark set, only if still unset, and the funnel stage
    counted, in the caller's transaction. Nothing when it was not the first."""
    if seen is not None:
        return []
    return [
        _update_member(member.applicant_id, [mark.set(now)], mark.does_not_exist(), now),
        funnel.count((stage,), member.applicant_id),
    ]


def confirm(purchase: Purchase, member: Membership, voucher_code: str, now: dt.datetime) -> bool:
    """AWAITING_CONFIRMATION -> CONFIRMED with its voucher, while the code is alive: the member (still ACTIVE, its
    balance still the one read and covering the price) is debited, a PURCHASE entry appended, and the voucher
    claimed, in one transaction. False when anything had moved: the caller reads again and decides."""
    still_awaiting, confirmed = _from(PurchaseEvent.CONFIRM, purchase)
    balance_after = member.balance - purchase.price
    first = member.first_purchase_at is None
    debit_condition = (
        (MemberRecord.state == MembershipState.ACTIVE.value)
        & (MemberRecord.balance == member.balance)
        & (MemberRecord.balance >= purchase.price)
    )
    debit = [*members.moved_by((LedgerKind.PURCHASE, purchase.price)), MemberRecord.live_purchases.add(1)]
    if first:
        debit_condition &= MemberRecord.first_purchase_at.does_not_exist()
        debit.append(MemberRecord.first_purchase_at.set(now))

    def claim_voucher(transaction: TransactWrite) -> None:
        transaction.save(
            IdentityGuardRecord(
                guard=voucher_guard_key(voucher_code), applicant_id=purchase.applicant_id, claimed_at=now
            ),
            condition=IdentityGuardRecord.guard.does_not_exist(),
        )

    codes = transact(
        _update_purchase(
            purchase.purchase_id,
            [
                confirmed,
                PurchaseRecord.voucher_code.set(voucher_code),
                PurchaseRecord.balance_after.set(balance_after),
                PurchaseRecord.confirmed_at.set(now),
                PurchaseRecord.code_sealed.remove(),
            ],
            still_awaiting & (PurchaseRecord.code_expires_at > now),
        ),
        _update_member(member.applicant_id, debit, debit_condition, now),
        members.entry(
            member.applicant_id, purchase_ref(purchase.purchase_id), LedgerKind.PURCHASE, purchase.price, now
        ),
        claim_voucher,
        funnel.count((FunnelStage.PURCHASED,), member.applicant_id) if first else None,
    )
    return committed(codes, "purchase confirmation")


def cancel(purchase: Purchase, member: Membership, now: dt.datetime) -> bool:
    """AWAITING_CONFIRMATION or CONFIRMED (as read) -> CANCELLED. A confirmed purchase's price is refunded to the
    member with a REFUND entry in the same transaction; one awaiting its code moved no money. A revoked member's
    refund is returned to the programme in that transaction too (a RETURN entry): nothing stays on a revoked card.
    False when the purchase or the member's state (revoked or not) had moved."""
    as_read, cancelled = _from(PurchaseEvent.CANCEL, purchase)
    parts: list[Build] = [
        _update_purchase(
            purchase.purchase_id,
            [cancelled, PurchaseRecord.cancelled_at.set(now), PurchaseRecord.code_sealed.remove()],
            as_read,
        )
    ]
    if purchase.status is PurchaseStatus.CONFIRMED:
        revoked = member.state is MembershipState.REVOKED
        # A revoked member's refund is returned at once: REFUND and RETURN, the balance netting to nothing.
        entries = [(LedgerKind.REFUND, purchase.price)] + ([(LedgerKind.RETURN, purchase.price)] if revoked else [])
        refund = [*members.moved_by(*entries), MemberRecord.live_purchases.add(-1)]
        if revoked:
            as_read_member = MemberRecord.state == MembershipState.REVOKED.value
        else:
            as_read_member = MemberRecord.state != MembershipState.REVOKED.value
        parts += [
            _update_member(purchase.applicant_id, refund, as_read_member, now),
            members.entry(
                purchase.applicant_id, refund_ref(purchase.purchase_id), LedgerKind.REFUND, purchase.price, now
            ),
        ]
        if revoked:
            parts.append(
                members.entry(
                    purchase.applicant_id,
                    refund_return_ref(purchase.purchase_id),
                    LedgerKind.RETURN,
                    purchase.price,
                    now,
                )
            )
    return committed(transact(*parts), "purchase cancellation")


def complete(
    purchase: Purchase, member: Membership, completed_at: dt.datetime, certificate_id: str, now: dt.datetime
) -> bool:
    """CONFIRMED -> COMPLETED with its certificate, which the partner has not reported for another purchase (its
    guard taken in the same transaction); the member's first completion is counted."""
    still_confirmed, completed = _from(PurchaseEvent.COMPLETE, purchase)
    guard = PurchaseRecord(
        purchase_id=certificate_key(purchase.partner_id, certificate_id),
        partner_id=purchase.partner_id,
        points_to=purchase.purchase_id,
    )

    def claim_certificate(transaction: TransactWrite) -> None:
        transaction.save(guard, condition=PurchaseRecord.purchase_id.does_not_exist())

    codes = transact(
        _update_purchase(
            purchase.purchase_id,
            [
                completed,
                PurchaseRecord.completed_at.set(completed_at),
                PurchaseRecord.certificate_id.set(certificate_id),
            ],
            still_confirmed,
        ),
        claim_certificate,
        *_first_time(member, member.first_completed_at, MemberRecord.first_completed_at, FunnelStage.COMPLETED, now),
    )
    return committed(codes, "purchase completion")


def review(purchase: Purchase, member: Membership, rating: int, comment: str, now: dt.datetime) -> bool:
    """The member's review of a COMPLETED purchase, once; the member's first review is counted."""
    codes = transact(
        _update_purchase(
            purchase.purchase_id,
            [
                PurchaseRecord.rating.set(rating),
                PurchaseRecord.comment.set(comment) if comment else PurchaseRecord.comment.remove(),
                PurchaseRecord.reviewed_at.set(now),
            ],
            (PurchaseRecord.status == PurchaseStatus.COMPLETED.value) & PurchaseRecord.reviewed_at.does_not_exist(),
        ),
        *_first_time(member, member.first_reviewed_at, MemberRecord.first_reviewed_at, FunnelStage.REVIEWED, now),
    )
    return committed(codes, "purchase review")
