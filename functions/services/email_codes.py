"""Email verification: issue codes, check tries, resend; a verified email sends the applicant to the NIK check."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import uuid
from typing import TYPE_CHECKING, Any

from functions import clock
from functions.adapters import personal_data, queues
from functions.adapters.purposes import Purpose
from functions.domain import notices
from functions.domain.email_code import (
    CODE_SHAPE,
    DAY,
    CodePolicy,
    IssuedCode,
    Verdict,
    judge,
    new_code,
    seconds_until_mailbox_code,
    seconds_until_resend,
)
from functions.domain.errors import Conflict, ErrorCode, InvalidField, TooManyRequests
from functions.domain.lifecycle import Applicant, Reason, Status
from functions.domain.messages import ApplicantIdRequest, EmailCodeRequest, NikCheckRequest
from functions.domain.requests import parse_body
from functions.observability import logger, metrics
from functions.services import notifications
from functions.services.access import authorised_applicant
from functions.settings import settings
from functions.store import applicants, claims, mailboxes

if TYPE_CHECKING:
    pass

_WRONG_CODE = (ErrorCode.INVALID_CODE, "the code is not right", "code")


def policy() -> CodePolicy:
    current = settings()
    return CodePolicy(
        ttl=dt.timedelta(seconds=current.email_code_ttl_seconds),
        max_wrong_tries=current.email_code_max_wrong_tries,
        resend_interval=dt.timedelta(seconds=current.email_code_resend_interval_seconds),
        resends_per_day=current.email_code_resends_per_day,
        mailbox_codes_per_hour=current.mailbox_codes_per_hour,
        mailbox_codes_per_day=current.mailbox_codes_per_day,
    )


def _locked_wait(rules: CodePolicy) -> int:
    """A locked code waits for a new one, which may be asked for once per resend interval; unknown ids are told
    the same."""
    return int(rules.resend_interval.total_seconds())


def _code_hash(mailbox: str, code_id: str, code: str) -> str:
    # Keyed: a plain hash of six digits would fall to a million guesses. Bound to the mailbox (its lookup hash),
    # not to one registration: every registration naming the mailbox may be given its current code.
    return personal_data.lookup_hash("email-code", f"{mailbox}:{code_id}:{code}")


def issue(mailbox: str, now: dt.datetime) -> IssuedCode:
    """A new code for the mailbox: stored as a keyed hash to check tries against, and sealed to the mailbox."""
    code = new_code()
    code_id = uuid.uuid4().hex
    hashed = _code_hash(mailbox, code_id, code)
    sealed = personal_data.seal_text(code, mailbox, Purpose.EMAIL_CODE)
    return IssuedCode(code_id, hashed, now, now + policy().ttl, sealed=sealed)


# A mailbox changed by another request between its read and its write is read again, at most this often.
_MAILBOX_ATTEMPTS = 5


def code_for_registration(mailbox: str, now: dt.datetime) -> IssuedCode:
    """The email code a new registration naming `mailbox` (its lookup hash) gets, sealed when it is to be sent.

    Nobody can make the programme spam someone, so codes are kept per mailbox, whichever registrations name it:
    while the mailbox has an unexpired code, a new registration is given that same code rather than a new one,
    and the code is emailed again only if its last email went at least the resend interval ago and the mailbox
    is within its emails an hour and a day (`seconds_until_mailbox_code`; resends count alike). A registration
    whose code is not sent is stored as sent when the mailbox last got it (or now, beyond the limits), so its
    own resend waits the interval and then meets the mailbox's limits (429 with Retry-After).

    Each registration still verifies on its own: it keeps its own copy of the code's hash and its own count of
    tries, so entering the code verifies only the registration that entered it; the first to verify claims the
    mailbox (`applicants.verify_email`), and another verifying the same mailbox later ends `REJECTED`
    (`DUPLICATE_EMAIL`). Each registration's code is still sent at most once (`deliver_code`)."""
    rules = policy()
    for _ in range(_MAILBOX_ATTEMPTS):
        box = mailboxes.find(mailbox)
        live = box.live_code(now)
        sent = box.sent_today(now)
        on_its_way = live is not None and bool(sent) and now - sent[-1] < rules.resend_interval
        if on_its_way or seconds_until_mailbox_code(box, now, rules):
            unsent_at = sent[-1] if on_its_way else now
            if live is not None:
                return dataclasses.replace(live, sealed=None, sent_at=unsent_at)
            code = issue(mailbox, now)
            if mailboxes.note_code(mailbox, box, code, sent):
                return dataclasses.replace(code, sealed=None, sent_at=unsent_at)
            continue
        code = live or issue(mailbox, now)
        if mailboxes.note_code(mailbox, box, code, [*sent, now]):
            return code
    raise RuntimeError("the mailbox kept changing")  # the intake message comes back and tries again


def send(applicant_id: str, sender: notifications.NotificationSender) -> None:
    """Asks for the applicant's current code to be sent. Harmless to repeat: a code is sent once."""
    sender.send([notices.EmailCode(applicant_id=applicant_id)])


def deliver_code(wanted: notices.EmailCode) -> None:
    """Sends the applicant's current email code if it has not been sent, whichever code was current when the
    message was queued (a message queued for a code since replaced sends the new one; the new code's own message
    then finds it sent), at most once (`notifications.deliver_once`)."""
    applicant_id = wanted.applicant_id
    applicant = applicants.find(applicant_id)
    if applicant is None:
        raise LookupError("the applicant is not stored yet")  # the message comes back once it is
    current = applicant.email_code
    if applicant.status is not Status.REGISTERED or current is None or current.sent_at or not current.sealed:
        return  # verified meanwhile, or its current code sent already
    sealed, now = current.sealed, clock.now()
    # Not taken: another delivery took it, or a resend replaced the code (and queued a message for it).
    if notifications.deliver_once(
        "email code",
        current.expires_at,
        now,
        {"applicant_id": applicant_id},
        take=lambda: applicants.mark_code_sent(applicant_id, current.code_id, now),
        send=lambda: notifications.deliver_email_code(wanted, applicant, sealed),
        give_back=lambda: applicants.unmark_code_sent(applicant_id, current.code_id, sealed, now),
    ):
        metrics.add_metric(name="EmailCodeSent", unit="Count", value=1)
        logger.info("email code sent", extra={"applicant_id": applicant_id, "waited_seconds": _waited(current, now)})


def _waited(code: IssuedCode, now: dt.datetime) -> float:
    return round((now - code.issued_at).total_seconds(), 3)


def check_code(body: bytes, token: str) -> dict[str, str]:
    """`POST /verifications/email`, with the applicant's own token: it is checked before a try is counted, so a
    stranger cannot spend the owner's tries (an unknown id and a wrong token get the same 401)."""
    request = parse_body(EmailCodeRequest, body)
    applicant = authorised_applicant(request.applicant_id, token)
    if applicant is None:
        raise Conflict(ErrorCode.NOT_YET_REGISTERED, "the registration is still being processed; try again shortly")
    if not CODE_SHAPE.fullmatch(request.code):
        raise InvalidField(ErrorCode.INVALID_CODE, "code must be six digits", "code")
    now = clock.now()
    rules = policy()
    if applicant.email_code is None:
        raise InvalidField(*_WRONG_CODE)
    current = applicant.email_code
    # Counted before it is compared, in one conditional write: concurrent guesses each get a number of their own.
    tries = 0 if now >= current.expires_at else applicants.count_code_try(applicant.applicant_id, current.code_id)
    if tries is None:  # a resend replaced the code meanwhile: this try was at a code no longer in use
        raise InvalidField(*_WRONG_CODE)
    matches = hmac.compare_digest(_code_hash(applicant.email_hash, current.code_id, request.code), current.code_hash)
    verdict = judge(tries, matches, current.expires_at, now, rules)
    if verdict is Verdict.VERIFIED:
        return _verified(applicant, current.code_id, now)
    if verdict is Verdict.EXPIRED:
        raise InvalidField(ErrorCode.CODE_EXPIRED, "this code has expired; ask for a new one", "code")
    if verdict is Verdict.LOCKED:
        raise TooManyRequests(
            ErrorCode.CODE_LOCKED, "too many wrong codes; ask for a new one", _locked_wait(rules), "code"
        )
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
    if applicant.reason in _CONTACT_DUPLICATES:
        # Also when the same code comes again: a notice is delivered once, so asking again only makes up for a
        # queue that did not take it.
        _tell_holders(applicant)
    return {"applicant_id": applicant.applicant_id, "status": applicant.status.value, "reason": applicant.reason}


def _busy() -> TooManyRequests:
    return TooManyRequests(
        ErrorCode.BUSY, "verification is busy; send the same code again shortly", settings().retry_after_seconds
    )


def _queue_nik_check(applicant_id: str, claimed_at: dt.datetime) -> None:
    """Queues the NIK check this caller claimed; if the queue does not take it, gives the claim back (the same
    code sent again queues it)."""
    try:
        queues.send_now(settings().nik_check_queue_url, NikCheckRequest(applicant_id=applicant_id).model_dump_json())
    except queues.QueueUnavailable:
        applicants.give_back_nik_check(applicant_id, claimed_at)
        raise _busy() from None


_CONTACT_DUPLICATES = frozenset({Reason.DUPLICATE_EMAIL.value, Reason.DUPLICATE_PHONE.value})


def _tell_holders(refused: Applicant) -> None:
    """A registration refused for an email or phone another registration holds (registration reveals nobody, so
    this is where a duplicate is found): each holder is told that someone tried to register with its email or
    phone, once per refused registration, and nothing of it."""
    named: dict[str, list[str]] = {}
    for kind, holder_id in claims.holders(refused.identity_hashes(), ("email", "phone")).items():
        if holder_id != refused.applicant_id:
            named.setdefault(holder_id, []).append(kind)
    try:
        notifications.SEND_NOW.send(
            [
                notices.RegistrationAttempt(applicant_id=holder_id, attempt_id=refused.applicant_id, named=tuple(kinds))
                for holder_id, kinds in named.items()
            ]
        )
    except queues.QueueUnavailable:
        raise _busy() from None


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
    backlog never adds work. Otherwise a new code, at most once a minute and so many a day, and within the
    mailbox's code emails an hour and a day (429 beyond); it becomes the mailbox's current code."""
    request = parse_body(ApplicantIdRequest, body)
    applicant = authorised_applicant(request.applicant_id, token)
    if applicant is None:
        raise Conflict(ErrorCode.NOT_YET_REGISTERED, "the registration is still being processed; try again shortly")
    if applicant.status is not Status.REGISTERED:
        raise Conflict(ErrorCode.NOT_AWAITING_EMAIL_CODE, f"no email code is needed in status {applicant.status}")
    now = clock.now()
    rules = policy()
    if applicant.email_code is not None and _still_coming(applicant, now, rules):
        return _answer(applicant, applicant.email_code)
    resent = _resent(applicant, now)
    last_issued = applicant.email_code.issued_at if applicant.email_code else now - rules.resend_interval
    wait = seconds_until_resend(last_issued, resent, now, rules)
    if wait:
        raise TooManyRequests(
            ErrorCode.RESEND_LIMIT, notices.resend_limit(rules.resend_interval, rules.resends_per_day), wait
        )
    box = mailboxes.find(applicant.email_hash)
    wait = seconds_until_mailbox_code(box, now, rules)
    if wait:
        limit = notices.mailbox_limit(rules.mailbox_codes_per_hour, rules.mailbox_codes_per_day)
        raise TooManyRequests(ErrorCode.RESEND_LIMIT, limit, wait)
    issued = issue(applicant.email_hash, now)
    old_code_id = applicant.email_code.code_id if applicant.email_code else None
    if not (
        mailboxes.note_code(applicant.email_hash, box, issued, [*box.sent_today(now), now])
        and applicants.replace_email_code(applicant.applicant_id, old_code_id, issued, [*resent, now])
    ):
        raise TooManyRequests(
            ErrorCode.RESEND_LIMIT, "a new code was just sent", int(rules.resend_interval.total_seconds())
        )
    send(applicant.applicant_id, notifications.SEND_NOW)
    return _answer(applicant, issued)
