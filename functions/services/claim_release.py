"""`POST /admin/claims/release`: an operator gives a confirmed NIK back to its owner, who proved who they are
elsewhere (an agent who knew their details had it confirmed first). The holder ends REJECTED (CLAIM_RELEASED) and
gives back everything it claimed; who released it, why and when is recorded with the claim, and the holder is
told (by email and SMS, with where to object)."""

from __future__ import annotations

from typing import Any

from functions import clock
from functions.adapters import personal_data
from functions.domain import notices
from functions.domain.errors import Conflict, ErrorCode, NotFound
from functions.domain.identity import mask_nik
from functions.domain.lifecycle import TRANSITIONS, Event, Reason, Status
from functions.domain.messages import ClaimReleaseRequest
from functions.domain.requests import parse_body
from functions.observability import logger, metrics
from functions.services import notifications
from functions.store import applicants, claims, waves


def release(body: bytes, admin: str) -> dict[str, Any]:
    request = parse_body(ClaimReleaseRequest, body)
    holder_id = claims.holder("nik", personal_data.lookup_hash("nik", request.nik))
    holder = applicants.find(holder_id) if holder_id else None
    if holder is None:
        raise NotFound(ErrorCode.CLAIM_NOT_FOUND, "no registration holds this NIK", "nik")
    if holder.status not in TRANSITIONS[Event.RELEASE_CLAIM].sources:
        raise Conflict(
            ErrorCode.CLAIM_IN_USE, f"the holder is {holder.status}: its membership must be revoked first", "nik"
        )
    now = clock.now()
    if not waves.release_claim(holder, admin, request.reason, now):
        # Its wave closed meanwhile (the holder is in a draw), or it moved on: released after publication.
        raise Conflict(
            ErrorCode.CLAIM_IN_DRAW, "the holder is in a wave being drawn; release it once results are out", "nik"
        )
    notifications.SEND_NOW.send([notices.ClaimReleased(applicant_id=holder.applicant_id)])
    metrics.add_metric(name="ClaimReleased", unit="Count", value=1)
    logger.info("NIK claim released", extra={"applicant_id": holder.applicant_id})
    return {
        "nik": mask_nik(holder.nik_last4),
        "applicant_id": holder.applicant_id,
        "status": Status.REJECTED.value,
        "reason": Reason.CLAIM_RELEASED.value,
        "released_by": admin,
        "released_at": now.isoformat(),
    }
