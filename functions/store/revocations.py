"""Revocations: a member's ACTIVE -> REVOKED with its balance returned, and the places they free for a later wave.

One transaction each: the member's state and balance (conditioned on the balance read, so a racing purchase makes
it read again), the `RETURN` ledger entry and the programme's total of returns, the funnel's REVOKED count, and a
shard of the refill counter of the wave open at that moment, written only while that wave is still OPEN: a
revocation racing a close is counted in exactly one wave, and a wave's refill no longer changes once it closes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pynamodb.transactions import TransactWrite

from functions.domain.lifecycle import FunnelStage
from functions.domain.membership import (
    MEMBERSHIP_TRANSITIONS,
    LedgerKind,
    Membership,
    MembershipEvent,
    MembershipReason,
    return_ref,
)
from functions.domain.wave import WaveState
from functions.store import funnel, members, waves
from functions.store.models import CounterRecord, MemberRecord, WaveRecord, bind, counter_shard, refill_counter_key
from functions.store.transactions import Build, committed, transact

# Each try meets a purchase or a close that changed what it read; a few settle it.
_ATTEMPTS = 8


def _revocable(member: Membership, now: dt.datetime, overdue_only: bool) -> bool:
    if overdue_only:
        return member.due_for_revocation(now)
    return member.state in MEMBERSHIP_TRANSITIONS[MembershipEvent.REVOKE].sources


def _revoking(
    member: Membership, reason: MembershipReason, now: dt.datetime, *, by: str | None, note: str | None, overdue: bool
) -> Build:
    move = MEMBERSHIP_TRANSITIONS[MembershipEvent.REVOKE]
    actions: list[Any] = [
        MemberRecord.state.set(move.target),
        MemberRecord.reason.set(reason.value),
        MemberRecord.revoked_at.set(now),
        # The whole balance, as read (the condition below): the balance ends at 0.
        *members.moved_by((LedgerKind.RETURN, member.balance)),
        MemberRecord.updated_at.set(now),
    ]
    if by is not None:
        actions.append(MemberRecord.revoked_by.set(by))
    if note is not None:
        actions.append(MemberRecord.revoked_note.set(note))
    condition = MemberRecord.state.is_in(*move.sources) & (MemberRecord.balance == member.balance)
    if overdue:
        condition &= (MemberRecord.live_purchases == 0) & (MemberRecord.first_purchase_deadline <= now)

    def revoking(transaction: TransactWrite) -> None:
        transaction.update(MemberRecord(applicant_id=member.applicant_id), actions=actions, condition=condition)

    return revoking


def _refilling(wave: int, applicant_id: str) -> Build:
    """The place freed goes to `wave`, only while it is open."""

    def refilling(transaction: TransactWrite) -> None:
        transaction.condition_check(WaveRecord, wave, condition=WaveRecord.state == WaveState.OPEN.value)
        transaction.update(
            CounterRecord(counter=refill_counter_key(wave, counter_shard(applicant_id))),
            actions=[CounterRecord.total.add(1)],
        )

    return refilling


def revoke(
    member: Membership,
    reason: MembershipReason,
    now: dt.datetime,
    *,
    by: str | None = None,
    note: str | None = None,
    overdue_only: bool,
    open_wave: int | None = None,
) -> bool:
    """ACTIVE -> REVOKED (`reason`; an admin's name and note with `by` and `note`), the whole balance returned, the
    place counted for the wave open now. `overdue_only`: only a member past its first-purchase deadline with no
    live purchase. False when nothing was written: the member was revoked already, or is no longer due.
    `open_wave`: the wave open now as the caller read it (a consumer reads it once for a page of members); read
    here when not given, and again whenever the transaction fails."""
    latest: Membership | None = member
    wave = open_wave if open_wave is not None else waves.current_number()
    for _ in range(_ATTEMPTS):
        if latest is None or not _revocable(latest, now, overdue_only):
            return False
        codes = transact(
            _revoking(latest, reason, now, by=by, note=note, overdue=overdue_only),
            members.entry(latest.applicant_id, return_ref(), LedgerKind.RETURN, latest.balance, now),
            funnel.count((FunnelStage.REVOKED,), latest.applicant_id),
            None if wave is None else _refilling(wave, latest.applicant_id),
        )
        if committed(codes, "revocation"):
            return True
        # A purchase moved the balance, or the wave closed: read both again.
        latest, wave = members.find(member.applicant_id), waves.current_number()
    raise RuntimeError("the membership kept changing under its revocation")


def refill(wave: int) -> int:
    """How many places revocations freed while `wave` was open (final once it has closed)."""
    keys = [refill_counter_key(wave, shard) for shard in range(bind().counter_shards)]
    return sum(int(record.total) for record in CounterRecord.batch_get(keys, consistent_read=True))
