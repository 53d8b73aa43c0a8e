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
    IssuedCode,
    Verdict,
    judge,
    new_code,
    seconds_until_resend,
)
from functions.domain.errors import Conflict, InvalidField, TooManyRequests
from functions.domain.lifecycle import Applicant, Status
from functions.domain.messages import ApplicantIdRequest, EmailCodeRequest, NikCheckRequest
from functions.domain.requests import parse_body
from functions.observability import logger
from functions.services import notifications
from functions.services.applicant_view import authorised_applicant
from functions.settings import settings
from functions.store import applicants, throttle

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


def send(applicant_id: str, code_id: str, code: str, sender: notifications.NotificationSender) -> None:
    sender.send([notifications.email_code_request(applicant_id, code_id, code)])


# A code younger than this is taken to be on its way (its notification queued, not yet delivered).
RESUME_AFTER = dt.timedelta(seconds=15)


def resume_unsent(applicant_id: str, now: dt.datetime, sender: notifications.NotificationSender) -> None:
    """A redelivered registration whose code never went out (the consumer stopped in between) gets a new one.

    A redelivery soon after the first (at-least-once delivery) finds the code still on its way and leaves it.
    """
    applicant = applicants.find(applicant_id)
    if applicant is None or applicant.status is not Status.REGISTERED or applicant.email_code is None:
        return
    current = applicant.email_code
    if now - current.issued_at < RESUME_AFTER:
        return
    if notifications.email_code_notification_id(applicant_id, current.code_id) in applicant.notified:
        return
    code, issued = issue(applicant_id, now)
    if applicants.replace_email_code(applicant_id, current.code_id, issued, applicant.email_code_resent_at):
        send(applicant_id, issued.code_id, code, sender)


def check_code(body: bytes) -> dict[str, str]:
    """`POST /verifications/email`: an unknown applicant and a wrong code get the same answer."""
    request = parse_body(EmailCodeRequest, body)
    if not CODE_SHAPE.fullmatch(request.code):
        raise InvalidField("INVALID_CODE", "code must be six digits", "code")
    now = clock.now()
    rules = policy()
    applicant = applicants.find(request.applicant_id) if len(request.applicant_id) == 32 else None
    if applicant is None or applicant.email_code is None:
        # The same work and the same answers as for a known applicant: wrong, wrong, ..., then locked.
        _code_hash(request.applicant_id, "none", request.code)
        failures = throttle.count_failure("email-code", request.applicant_id, int(rules.ttl.total_seconds()), now)
        if failures > rules.max_wrong_tries:
            raise TooManyRequests("CODE_LOCKED", "too many wrong codes; ask for a new one", _locked_wait(rules), "code")
        raise InvalidField(*_WRONG_CODE)
    current = applicant.email_code
    # Counted before it is compared, in one conditional write: concurrent guesses each get a number of their own.
    tries = 0 if now >= current.expires_at else applicants.count_code_try(applicant.applicant_id, current.code_id)
    if tries is None:  # a resend replaced the code meanwhile: this try was at a code no longer in use
        raise InvalidField(*_WRONG_CODE)
    matches = hmac.compare_digest(_code_hash(applicant.applicant_id, current.code_id, request.code), current.code_hash)
    verdict = judge(tries, matches, current.expires_at, now, rules)
    if verdict is Verdict.VERIFIED:
        return _verified(applicant, current.code_id, now)
    if verdict is Verdict.EXPIRED:
        raise InvalidField("CODE_EXPIRED", "this code has expired; ask for a new one", "code")
    if verdict is Verdict.LOCKED:
        raise TooManyRequests("CODE_LOCKED", "too many wrong codes; ask for a new one", _locked_wait(rules), "code")
    raise InvalidField(*_WRONG_CODE)


def _verified(applicant: Applicant, code_id: str, now: dt.datetime) -> dict[str, Any]:
    """The right code: the email is verified (claiming the email and phone) and the NIK check queued, once."""
    if applicant.status is Status.REGISTERED:
        outcome, _ = applicants.verify_email(applicant, code_id, now)
        if outcome is applicants.Claimed.DONE:
            logger.info("email verified", extra={"applicant_id": applicant.applicant_id})
            _queue_nik_check(applicant.applicant_id, now)
        applicant = applicants.find(applicant.applicant_id) or applicant
    elif (
        applicant.status is Status.EMAIL_VERIFIED
        and applicant.nik_check_queued_at is None
        # An earlier verification could not queue the check (429): this one may, if nobody else does first.
        and applicants.claim_nik_check(applicant.applicant_id, now)
    ):
        _queue_nik_check(applicant.applicant_id, now)
    return {"applicant_id": applicant.applicant_id, "status": applicant.status.value, "reason": applicant.reason}


def _queue_nik_check(applicant_id: str, claimed_at: dt.datetime) -> None:
    """Queues the NIK check this caller claimed; if the queue does not take it, gives the claim back (the same
    code sent again queues it)."""
    try:
        queues.send_now(settings().nik_check_queue_url, NikCheckRequest(applicant_id=applicant_id).model_dump_json())
    except queues.QueueUnavailable:
        applicants.give_back_nik_check(applicant_id, claimed_at)
        raise TooManyRequests(
            "BUSY", "verification is busy; send the same code again shortly", settings().retry_after_seconds
        ) from None


def _resent(applicant: Applicant, now: dt.datetime) -> list[dt.datetime]:
    return [moment for moment in applicant.email_code_resent_at if now - moment < DAY]


def resend(body: bytes, token: str) -> dict[str, Any]:
    """`POST /verifications/email/resend`: a fresh code, at most once a minute and so many times a day."""
    request = parse_body(ApplicantIdRequest, body)
    applicant = authorised_applicant(request.applicant_id, token)
    if applicant is None:
        raise Conflict("NOT_YET_REGISTERED", "the registration is still being processed; try again shortly")
    if applicant.status is not Status.REGISTERED:
        raise Conflict("NOT_AWAITING_EMAIL_CODE", f"no email code is needed in status {applicant.status}")
    now = clock.now()
    rules = policy()
    resent = _resent(applicant, now)
    last_sent = applicant.email_code.issued_at if applicant.email_code else now - rules.resend_interval
    wait = seconds_until_resend(last_sent, resent, now, rules)
    if wait:
        raise TooManyRequests("RESEND_LIMIT", notices.resend_limit(rules.resend_interval, rules.resends_per_day), wait)
    code, issued = issue(applicant.applicant_id, now)
    old_code_id = applicant.email_code.code_id if applicant.email_code else None
    if not applicants.replace_email_code(applicant.applicant_id, old_code_id, issued, [*resent, now]):
        raise TooManyRequests("RESEND_LIMIT", "a new code was just sent", int(rules.resend_interval.total_seconds()))
    send(applicant.applicant_id, issued.code_id, code, notifications.SEND_NOW)
    return {
        "applicant_id": applicant.applicant_id,
        "status": applicant.status.value,
        "code_expires_at": issued.expires_at.isoformat(),
    }
