"""Email verification: issue codes, check tries, resend; a verified email sends the applicant to the NIK check."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import Any

from functions import clock
from functions.adapters import personal_data, queues
from functions.domain import notices
from functions.domain.email_code import (
    CODE_SHAPE,
    DAY,
    CodePolicy,
    CodeState,
    Verdict,
    counts_as_wrong_try,
    judge,
    new_code,
    seconds_until_resend,
)
from functions.domain.errors import Conflict, InvalidField, TooManyRequests
from functions.domain.lifecycle import FunnelStage, Status
from functions.domain.messages import ApplicantIdRequest, EmailCodeRequest, NikCheckRequest
from functions.domain.requests import parse_body
from functions.observability import logger
from functions.services import notifications
from functions.services.applicants import authorised_record
from functions.settings import settings
from functions.store import applicants, throttle
from functions.store.applicants import IssuedCode
from functions.store.models import ApplicantRecord

_WRONG_CODE = ("INVALID_CODE", "the code is not right", "code")


def policy() -> CodePolicy:
    current = settings()
    return CodePolicy(
        ttl=dt.timedelta(seconds=current.email_code_ttl_seconds),
        max_wrong_tries=current.email_code_max_wrong_tries,
        resend_interval=dt.timedelta(seconds=current.email_code_resend_interval_seconds),
        resends_per_day=current.email_code_resends_per_day,
    )


def _locked_wait(rules: CodePolicy) -> int:
    """A locked code waits for a new one, which may be asked for once per resend interval; unknown ids are told
    the same."""
    return int(rules.resend_interval.total_seconds())


def _code_hash(applicant_id: str, code_id: str, code: str) -> str:
    # Keyed: a plain hash of six digits would fall to a million guesses.
    return personal_data.lookup_hash("email-code", f"{applicant_id}:{code_id}:{code}")


def issue(applicant_id: str, now: dt.datetime) -> tuple[str, IssuedCode]:
    code = new_code()
    code_id = uuid.uuid4().hex
    issued = IssuedCode(code_id, _code_hash(applicant_id, code_id, code), now, now + policy().ttl)
    return code, issued


def send(applicant_id: str, code_id: str, code: str, for_message: str | None = None) -> None:
    notifications.queue([notifications.email_code_request(applicant_id, code_id, code)], for_message=for_message)


# A code younger than this is taken to be on its way (its notification queued, not yet delivered).
RESUME_AFTER = dt.timedelta(seconds=15)


def resume_unsent(applicant_id: str, now: dt.datetime, for_message: str | None = None) -> None:
    """A redelivered registration whose code never went out (the consumer stopped in between) gets a new one.

    A redelivery soon after the first (at-least-once delivery) finds the code still on its way and leaves it.
    """
    record = applicants.find(applicant_id)
    if record is None or record.status != Status.REGISTERED.value or not record.email_code_id:
        return
    if record.email_code_issued_at is not None and now - record.email_code_issued_at < RESUME_AFTER:
        return
    if notifications.email_code_notification_id(applicant_id, record.email_code_id) in (record.notified or set()):
        return
    code, issued = issue(applicant_id, now)
    if applicants.replace_email_code(
        applicant_id, record.email_code_id, issued, list(record.email_code_resent_at or [])
    ):
        send(applicant_id, issued.code_id, code, for_message)


def verify(body: bytes) -> dict[str, str]:
    """`POST /verifications/email`: an unknown applicant and a wrong code get the same answer."""
    request = parse_body(EmailCodeRequest, body)
    if not CODE_SHAPE.fullmatch(request.code):
        raise InvalidField("INVALID_CODE", "code must be six digits", "code")
    now = clock.now()
    rules = policy()
    record = applicants.find(request.applicant_id) if len(request.applicant_id) == 32 else None
    if record is None or not (record.email_code_id and record.email_code_hash and record.email_code_expires_at):
        # The same work and the same answers as for a known applicant: wrong, wrong, ..., then locked.
        _code_hash(request.applicant_id, "none", request.code)
        failures = throttle.count_failure("email-code", request.applicant_id, int(rules.ttl.total_seconds()), now)
        if failures > rules.max_wrong_tries:
            raise TooManyRequests("CODE_LOCKED", "too many wrong codes; ask for a new one", _locked_wait(rules), "code")
        raise InvalidField(*_WRONG_CODE)
    matches = hmac.compare_digest(
        _code_hash(record.applicant_id, record.email_code_id, request.code), record.email_code_hash
    )
    state = CodeState(record.email_code_expires_at, int(record.email_code_wrong_tries))
    verdict = judge(state, matches, now, rules)
    if verdict is Verdict.VERIFIED:
        return _verified(record, now)
    if verdict is Verdict.EXPIRED:
        raise InvalidField("CODE_EXPIRED", "this code has expired; ask for a new one", "code")
    if verdict is not Verdict.LOCKED and counts_as_wrong_try(verdict, state, now):
        tries = applicants.count_wrong_code(record.applicant_id, record.email_code_id)
        locked = tries is not None and tries > rules.max_wrong_tries
    else:
        locked = verdict is Verdict.LOCKED
    if locked:
        raise TooManyRequests("CODE_LOCKED", "too many wrong codes; ask for a new one", _locked_wait(rules), "code")
    raise InvalidField(*_WRONG_CODE)


def _verified(record: ApplicantRecord, now: dt.datetime) -> dict[str, str]:
    status = record.status
    if status == Status.REGISTERED.value:
        moved = applicants.transition(
            record.applicant_id,
            Status.REGISTERED,
            [ApplicantRecord.status.set(Status.EMAIL_VERIFIED.value), ApplicantRecord.email_verified_at.set(now)],
            now=now,
            counted=[FunnelStage.EMAIL_VERIFIED],
            counter_shards=settings().counter_shards,
            condition=ApplicantRecord.email_code_id == record.email_code_id,
        )
        latest = record if moved else applicants.find(record.applicant_id)
        status = Status.EMAIL_VERIFIED.value if moved else (latest.status if latest else status)
    if status == Status.EMAIL_VERIFIED.value:
        # Sent again on a repeated verification too: the NIK check changes nothing twice, and a lost send heals.
        try:
            queues.send_now(
                settings().nik_check_queue_url, NikCheckRequest(applicant_id=record.applicant_id).model_dump_json()
            )
        except queues.QueueUnavailable:
            raise TooManyRequests(
                "BUSY", "verification is busy; send the same code again shortly", settings().retry_after_seconds
            ) from None
        logger.info("email verified", extra={"applicant_id": record.applicant_id})
    return {"applicant_id": record.applicant_id, "status": status}


def _resent(record: ApplicantRecord, now: dt.datetime) -> list[dt.datetime]:
    return [t for t in (dt.datetime.fromisoformat(s) for s in record.email_code_resent_at or []) if now - t < DAY]


def resend(body: bytes, token: str) -> dict[str, Any]:
    """`POST /verifications/email/resend`: a fresh code, at most once a minute and so many times a day."""
    request = parse_body(ApplicantIdRequest, body)
    record = authorised_record(request.applicant_id, token)
    if record is None:
        raise Conflict("NOT_YET_REGISTERED", "the registration is still being processed; try again shortly")
    if record.status != Status.REGISTERED.value:
        raise Conflict("NOT_AWAITING_EMAIL_CODE", f"no email code is needed in status {record.status}")
    now = clock.now()
    rules = policy()
    resent = _resent(record, now)
    wait = seconds_until_resend(record.email_code_issued_at or now - rules.resend_interval, resent, now, rules)
    if wait:
        raise TooManyRequests("RESEND_LIMIT", notices.resend_limit(rules.resend_interval, rules.resends_per_day), wait)
    code, issued = issue(record.applicant_id, now)
    history = [t.isoformat() for t in [*resent, now]]
    if not applicants.replace_email_code(record.applicant_id, record.email_code_id, issued, history):
        raise TooManyRequests("RESEND_LIMIT", "a new code was just sent", int(rules.resend_interval.total_seconds()))
    send(record.applicant_id, issued.code_id, code)
    return {
        "applicant_id": record.applicant_id,
        "status": record.status,
        "code_expires_at": issued.expires_at.isoformat(),
    }
