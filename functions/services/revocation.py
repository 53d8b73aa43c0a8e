"""Revocation: members with no training bought by their first-purchase deadline lose the membership, and an admin can
revoke one for fraud (docs/architecture.md, "After acceptance"). Either way the balance returns to the programme, the
member is told, and the place freed is added to the quota of the wave open at that moment (at its draw).

The daily schedule does no member's work itself: like publication, it fans out through a queue. Once per wave,
when every member's deadline has passed, it queues one message per shard of the wave's members; the consumer
revokes a page of its shard and hands the rest on as a new message, within its invocation's time. Every step is
idempotent: the wave notes that its sweep is queued, and a member is revoked once (a conditional transition).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING, Any

from functions import clock
from functions.adapters import queues
from functions.domain import notices
from functions.domain.card import is_valid
from functions.domain.errors import Conflict, ErrorCode, InvalidField, NotFound
from functions.domain.membership import Membership, MembershipReason, MembershipState, revocation_sweep_due
from functions.domain.messages import RevocationRequest, RevocationShard
from functions.domain.requests import parse_body
from functions.domain.wave import WaveState
from functions.observability import logger, metrics
from functions.services import notifications
from functions.services.cohort_walk import CohortWalk, Visit
from functions.settings import settings
from functions.store import members, revocations, waves

if TYPE_CHECKING:
    pass


# --- the daily schedule ---------------------------------------------------------------------------------------


def _waves_due(now: dt.datetime) -> list[int]:
    """The published waves whose members are all past their deadline and whose sweep is not queued yet, oldest
    first. Waves are published in order, so the walk back from the open wave stops at the first one swept."""
    days = settings().first_purchase_days
    due: list[int] = []
    number = waves.current_number() or 0
    while number >= 1:
        wave = waves.find(number)
        if wave is None or wave.revocations_queued_at is not None:
            break
        if (
            wave.state is WaveState.PUBLISHED
            and wave.published_at is not None
            and revocation_sweep_due(wave.published_at, days, now)
        ):
            due.append(number)
        number -= 1
    return due[::-1]


def sweep(now: dt.datetime) -> list[int]:
    """Queues the revocation of every wave due at `now` (catching up any missed day); returns those waves. The
    sweep is noted on the wave after its shards are queued: a run stopped in between queues them again, which
    revokes no one twice."""
    url = settings().revocation_queue_url
    queued = []
    for number in _waves_due(now):
        shards = [RevocationShard(wave=number, shard=s, swept_at=now) for s in range(members.COHORT_SHARDS)]
        queues.send_all(url, [shard.model_dump_json() for shard in shards])
        waves.revocations_queued(number, now)
        queued.append(number)
        logger.info("revocation sweep queued", extra={"wave": number, "shards": members.COHORT_SHARDS})
    return queued


# --- the consumer -----------------------------------------------------------------------------------------------


def _revoked_notice(applicant_id: str, reason: MembershipReason) -> notices.MembershipRevoked:
    return notices.MembershipRevoked(applicant_id=applicant_id, reason=reason.value)


def _revoke_if_due(member: Membership, now: dt.datetime, open_wave: int | None) -> list[notices.Told]:
    """One member of a shard. One revoked already for want of a purchase is told again: the notice is sent once
    by its id, and a shard that stopped between revoking and telling is thus told on its redelivery."""
    reason = MembershipReason.NO_PURCHASE_IN_TIME
    if member.due_for_revocation(now):
        if not revocations.revoke(member, reason, now, overdue_only=True, open_wave=open_wave):
            return []
        metrics.add_metric(name="MembershipRevoked", unit="Count", value=1)
        return [_revoked_notice(member.applicant_id, reason)]
    if member.state is MembershipState.REVOKED and member.reason is reason:
        return [_revoked_notice(member.applicant_id, reason)]
    return []


class ShardRevoker(CohortWalk[RevocationShard, Membership]):
    """The revocation consumer's record handler: a page of the shard's members is revoked where due (at the
    sweep's time), the rest of the shard handed on."""

    throttled_metric = "RevocationThrottled"
    handed_on_metric = "RevocationShardHandedOn"
    pause_seconds = 5  # throttling eases meanwhile

    def page(self, shard: RevocationShard) -> tuple[list[Membership], str | None]:
        return members.cohort(shard.wave, shard.shard, after=shard.after, limit=settings().cohort_page_size)

    def visitor(self, shard: RevocationShard) -> Visit[Membership]:
        # The wave open now, read once for the page (a revocation reads it again if that wave has closed).
        open_wave = self._retrying(waves.current_number)
        return functools.partial(_revoke_if_due, now=shard.swept_at, open_wave=open_wave)

    def queue_url(self) -> str:
        return settings().revocation_queue_url


# --- the admin's revocation -------------------------------------------------------------------------------------


def admin_revoke(card_number: str, body: bytes, admin: str) -> dict[str, Any]:
    """`POST /admin/memberships/{card_number}/revoke`: revokes for fraud, whatever the member bought, with the
    admin's name and reason recorded; the member is told."""
    request = parse_body(RevocationRequest, body)
    if not is_valid(card_number):
        raise InvalidField(
            ErrorCode.INVALID_CARD_NUMBER, "a card number is 16 digits with a valid check digit", "card_number"
        )
    member = members.find_by_card(card_number)
    if member is None:
        raise NotFound(ErrorCode.CARD_NOT_FOUND, "no member holds this card", "card_number")
    now = clock.now()
    reason = MembershipReason.FRAUD
    if not revocations.revoke(member, reason, now, by=admin, note=request.reason, overdue_only=False):
        state = (members.find(member.applicant_id) or member).state
        if state is MembershipState.REVOKED:
            raise Conflict(ErrorCode.MEMBERSHIP_REVOKED, "this membership is revoked already", "card_number")
        raise Conflict(
            ErrorCode.MEMBERSHIP_NOT_ACTIVE, f"only an ACTIVE membership is revoked (it is {state})", "card_number"
        )
    notifications.SEND_NOW.send([_revoked_notice(member.applicant_id, reason)])
    metrics.add_metric(name="MembershipRevokedByAdmin", unit="Count", value=1)
    logger.info("membership revoked by an admin", extra={"applicant_id": member.applicant_id})
    revoked = members.find(member.applicant_id) or member
    return {
        "applicant_id": revoked.applicant_id,
        "state": revoked.state.value,
        "reason": reason.value,
        "returned": revoked.totals.returned,
        "balance": revoked.balance,
        "revoked_by": admin,
        "revoked_at": now.isoformat(),
    }
