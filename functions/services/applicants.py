"""`GET /applicants/{id}`: the applicant's own view of its record, personal data masked."""

from __future__ import annotations

import re
from typing import Any, NoReturn

from functions import clock
from functions.adapters import personal_data
from functions.domain.errors import NotAuthorised, TooManyRequests
from functions.domain.identity import mask_nik
from functions.domain.lifecycle import Status
from functions.domain.waves import WaveState
from functions.settings import settings
from functions.store import applicants, throttle, waves
from functions.store.models import ApplicantRecord

_APPLICANT_ID_SHAPE = re.compile(r"[0-9a-f]{32}")


def authorised_record(applicant_id: str, token: str) -> ApplicantRecord | None:
    """The applicant's record when the token is its own; None while the registration is still queued.

    Unknown ids, wrong tokens and malformed ids all get the same refusal, after the same work.
    """
    known_shape = bool(_APPLICANT_ID_SHAPE.fullmatch(applicant_id))
    record = applicants.find(applicant_id) if known_shape else None
    issued_here = personal_data.token_was_issued_for(token, applicant_id)
    if record is not None and personal_data.token_matches_hash(token, record.token_hash):
        return record
    if record is None and known_shape and issued_here:
        return None
    refuse_token(applicant_id)


def refuse_token(applicant_id: str) -> NoReturn:
    """401, or 429 once an id has seen too many wrong tokens lately: counted alike for known and unknown ids."""
    current = settings()
    failures = throttle.count_failure("token", applicant_id, current.token_failure_window_seconds, clock.now())
    if failures > current.token_failures_allowed:
        raise TooManyRequests(
            "TOO_MANY_ATTEMPTS",
            "too many wrong tokens for this applicant; wait and try again",
            current.token_failure_window_seconds,
        )
    raise NotAuthorised()


def shown_status(record: ApplicantRecord) -> str:
    """A member of a closed wave is PROCESSING until its wave publishes (derived, so closing a wave of
    millions writes nothing to their records)."""
    if record.status == Status.JOINED.value and record.wave is not None:
        wave = waves.find(int(record.wave))
        if wave is not None and wave.state != WaveState.OPEN.value:
            return Status.PROCESSING.value
    return str(record.status)


def view(applicant_id: str, token: str) -> dict[str, Any]:
    record = authorised_record(applicant_id, token)
    if record is None:
        return {"applicant_id": applicant_id, "status": Status.PENDING.value, "reason": None}
    return {
        "applicant_id": record.applicant_id,
        "status": shown_status(record),
        "reason": record.reason,
        "wave": None if record.wave is None else int(record.wave),
        "card_number": record.card_number,
        "previous_wave": None if record.previous_wave is None else int(record.previous_wave),
        "previous_result": record.previous_result,
        "tier": None if record.tier is None else int(record.tier),
        "nik": mask_nik(record.nik_last4),
        "regency_code": record.regency_code,
        "submitted_at": record.submitted_at.isoformat(),
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
