"""Email verification: issue codes, check tries, resend; a verified email sends the applicant to the NIK check."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import TYPE_CHECKING, Any

from functions import clock
from functions.adapters import personal_data, queues
from functions.adapters.aws import is_transient
from functions.domain import notices
from functions.domain.email_code import (
    CODE_SHAPE,
    DAY,
    CodePolicy,
    IssuedCode,
    Verdict,
    judge,
    new_code,
    redelivery_delay,
    seconds_until_resend,
)
from functions.domain.errors import Conflict, InvalidField, TooManyRequests
from functions.domain.lifecycle import Applicant, Status
from functions.domain.messages import ApplicantIdRequest, EmailCodeRequest, NikCheckRequest
from functions.domain.requests import parse_body
from functions.observability import logger, metrics
from functions.services import access, notifications, purchases
from functions.services.applicant_view import authorised_applicant
from functions.settings import settings
from functions.store import applicants, throttle

if TYPE_CHECKING:
    from functions.services.sqs_records import NotificationRecord

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


def issue(applicant_id: str, now: dt.datetime) -> IssuedCode:
    """A new code: stored as a keyed hash to check tries against, and sealed to its applicant until it is sent."""
    code = new_code()
    code_id = uuid.uuid4().hex
    hashed = _code_hash(applicant_id, code_id, code)
    sealed = personal_data.seal_text(code, applicant_id)
    return IssuedCode(code_id, hashed, now, now + policy().ttl, sealed=sealed)


def send(applicant_id: str, sender: notifications.NotificationSender) -> None:
    """Asks for the applicant's current code to be sent. Harmless to repeat: a code is sent once."""
    sender.send([notifications.email_code_request(applicant_id)])


def deliver_code(record: NotificationRecord, _sends: notifications.BatchSends) -> None:
    """The code consumer: sends the applicant's current code if it has not been sent, whichever code was current
    when the message was queued (a message queued for a code since replaced sends the new one; the new code's own
    message then finds it sent). The sending is taken before the email goes, so a code goes out at most once; an
    email that fails gives it back, and SQS brings the message back later (SES throttling is back-pressure here).
    Purchase and sign-in codes share the queue and the consumer (`purchases.deliver_code`, `access.deliver_code`)."""
    if record.body.kind == notifications.PURCHASE_CODE:
        purchases.deliver_code(record.body)
        return
    if record.body.kind == notifications.SIGN_IN_CODE:
        access.deliver_code(record.body)
        return
    applicant_id = record.body.applicant_id
    applicant = applicants.find(applicant_id)
    if applicant is None:
        raise LookupError("the applicant is not stored yet")  # the message comes back once it is
    current = applicant.email_code
    if applicant.status is not Status.REGISTERED or current is None or current.sent_at or not current.sealed:
        return  # verified meanwhile, or its current code sent already
    now = clock.now()
    if now >= current.expires_at:
        logger.info("email code expired unsent", extra={"applicant_id": applicant_id})
        return
    if not applicants.mark_code_sent(applicant_id, current.code_id, now):
        return  # another delivery took it, or a resend replaced the code (and queued a message for it)
    try:
        notifications.deliver_email_code(applicant, current.sealed)
    except Exception as error:
        applicants.unmark_code_sent(applicant_id, current.code_id, current.sealed, now)
        if is_transient(error):  # SES throttling is back-pressure: try again soon, not after the visibility timeout
            metrics.add_metric(name="EmailCodeDeferred", unit="Count", value=1)
            queues.come_back_in(
                settings().email_codes_queue_url,
                record.receiptHandle,
                redelivery_delay(int(record.attributes.ApproximateReceiveCount)),
            )
        raise
    metrics.add_metric(name="EmailCodeSent", unit="Count", value=1)
    logger.info("email code sent", extra={"applicant_id": applicant_id, "waited_seconds": _waited(current, now)})


def _waited(code: IssuedCode, now: dt.datetime) -> float:
    return round((now - code.issued_at).total_seconds(), 3)


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


def _still_coming(applicant: Applicant, now: dt.datetime, rules: CodePolicy) -> bool:
    """The current code is usable (not expired, not spent on wrong tries) and either still on its way or sent less
    than the resend interval ago: a resend then reuses it rather than adding a code and a message."""
    current = applicant.email_code
    if current is None or now >= current.expires_at or applicant.email_code_tries >= rules.max_wrong_tries:
        return False
    return current.sent_at is None or now - current.sent_at < rules.resend_interval


def _answer(applicant: Applicant, code: IssuedCode) -> dict[str, Any]:
    return {
        "applicant_id": applicant.applicant_id,
        "status": applicant.status.value,
        "code_sent_at": code.sent_at.isoformat() if code.sent_at else None,
        "code_expires_at": code.expires_at.isoformat(),
    }


def resend(body: bytes, token: str) -> dict[str, Any]:
    """`POST /verifications/email/resend`. While the current code is on its way, or was sent less than the resend
    interval ago, nothing is issued or queued (202, with when it was sent, if it was): asking again during a
    backlog never adds work. Otherwise a new code, at most once a minute and so many a day (429 beyond)."""
    request = parse_body(ApplicantIdRequest, body)
    applicant = authorised_applicant(request.applicant_id, token)
    if applicant is None:
        raise Conflict("NOT_YET_REGISTERED", "the registration is still being processed; try again shortly")
    if applicant.status is not Status.REGISTERED:
        raise Conflict("NOT_AWAITING_EMAIL_CODE", f"no email code is needed in status {applicant.status}")
    now = clock.now()
    rules = policy()
    if applicant.email_code is not None and _still_coming(applicant, now, rules):
        return _answer(applicant, applicant.email_code)
    resent = _resent(applicant, now)
    last_issued = applicant.email_code.issued_at if applicant.email_code else now - rules.resend_interval
    wait = seconds_until_resend(last_issued, resent, now, rules)
    if wait:
        raise TooManyRequests("RESEND_LIMIT", notices.resend_limit(rules.resend_interval, rules.resends_per_day), wait)
    issued = issue(applicant.applicant_id, now)
    old_code_id = applicant.email_code.code_id if applicant.email_code else None
    if not applicants.replace_email_code(applicant.applicant_id, old_code_id, issued, [*resent, now]):
        raise TooManyRequests("RESEND_LIMIT", "a new code was just sent", int(rules.resend_interval.total_seconds()))
    send(applicant.applicant_id, notifications.SEND_NOW)
    return _answer(applicant, issued)
