"""Signing in again with a code sent to the verified email (`POST /sign-ins`, `POST /sign-ins/confirm`): a new
access token (`services.access`) for whoever can read that mailbox."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import Any, NoReturn

from functions import clock
from functions.adapters import personal_data
from functions.adapters.purposes import Purpose
from functions.domain import access as access_rules
from functions.domain import notices
from functions.domain.email_code import (
    CODE_SHAPE,
    CodePolicy,
    IssuedCode,
    Verdict,
    judge,
    new_code,
    seconds_until_mailbox_code,
)
from functions.domain.errors import ErrorCode, InvalidField, TooManyRequests
from functions.domain.identity import mailbox
from functions.domain.lifecycle import Applicant
from functions.domain.messages import SignInConfirmation, SignInRequest
from functions.domain.requests import parse_body
from functions.observability import logger, metrics
from functions.services import access, notifications
from functions.settings import settings
from functions.store import applicants, claims, mailboxes, throttle

_WRONG_CODE = (ErrorCode.INVALID_CODE, "the code is not right", "code")
_MAILBOX_ATTEMPTS = 5  # conditional writes on a mailbox that others change meanwhile, before giving up


def _policy() -> CodePolicy:
    current = settings()
    return access_rules.sign_in_code_policy(
        current.sign_in_code_ttl_seconds,
        current.sign_in_code_max_wrong_tries,
        current.mailbox_codes_per_hour,
        current.mailbox_codes_per_day,
    )


def _mailbox_hash(email: str) -> str:
    return personal_data.lookup_hash("email", mailbox(email))


def _code_hash(applicant_id: str, code_id: str, code: str) -> str:
    # Keyed: a plain hash of six digits would fall to a million guesses.
    return personal_data.lookup_hash("sign-in-code", f"{applicant_id}:{code_id}:{code}")


def _signed_in_holder(mailbox_hash: str) -> Applicant | None:
    """The applicant whose verified email is this mailbox (it holds the email's claim), if any."""
    holder_id = claims.holder("email", mailbox_hash)
    return applicants.find(holder_id) if holder_id else None


def _count_code_email(mailbox_hash: str, now: dt.datetime) -> None:
    """Counts a code email to the mailbox, known or not, on the same count as its email codes (one mailbox, one
    limit an hour and a day, whichever code it is sent): 429 beyond."""
    rules = _policy()
    for _ in range(_MAILBOX_ATTEMPTS):
        box = mailboxes.find(mailbox_hash)
        wait = seconds_until_mailbox_code(box, now, rules)
        if wait:
            limit = notices.mailbox_limit(rules.mailbox_codes_per_hour, rules.mailbox_codes_per_day)
            raise TooManyRequests(ErrorCode.CODE_LIMIT, limit, wait, "email")
        if mailboxes.note_code_email(mailbox_hash, box, [*box.sent_today(now), now]):
            return
    busy = "the mailbox is being sent a code just now; try again shortly"
    raise TooManyRequests(ErrorCode.CODE_LIMIT, busy, settings().retry_after_seconds, "email")


def ask_for_code(body: bytes) -> dict[str, Any]:
    """`POST /sign-ins`: the same 202 whether or not the mailbox is a verified applicant's; only when it is does a
    new code go there (sealed in its message, sent by the code consumer). Counted per mailbox either way."""
    request = parse_body(SignInRequest, body)
    now = clock.now()
    mailbox_hash = _mailbox_hash(request.email)
    _count_code_email(mailbox_hash, now)
    rules = _policy()
    holder = _signed_in_holder(mailbox_hash)
    if holder is not None:
        code, code_id = new_code(), uuid.uuid4().hex
        issued = IssuedCode(code_id, _code_hash(holder.applicant_id, code_id, code), now, now + rules.ttl)
        if applicants.start_sign_in(holder.applicant_id, issued):
            sealed = personal_data.seal_text(code, holder.applicant_id, Purpose.SIGN_IN_CODE)
            notifications.SEND_NOW.send(
                [notices.SignInCode(applicant_id=holder.applicant_id, code_id=code_id, sealed_code=sealed)]
            )
            metrics.add_metric(name="SignInCodeIssued", unit="Count", value=1)
    return {"code_expires_in_seconds": int(rules.ttl.total_seconds())}


def _refuse_code(rules: CodePolicy, locked: bool) -> NoReturn:
    if locked:  # until a new sign-in code replaces this one, or the count's window (the code's life) is over
        wait = int(rules.ttl.total_seconds())
        raise TooManyRequests(ErrorCode.CODE_LOCKED, "too many wrong codes; ask for a new one", wait, "code")
    raise InvalidField(*_WRONG_CODE)


def confirm(body: bytes) -> dict[str, str]:
    """`POST /sign-ins/confirm`: the right code, once, yields a new access token. An unknown mailbox and a wrong
    code get the same answers: wrong, wrong, ..., then locked."""
    request = parse_body(SignInConfirmation, body)
    if not CODE_SHAPE.fullmatch(request.code):
        raise InvalidField(ErrorCode.INVALID_CODE, "code must be six digits", "code")
    now = clock.now()
    rules = _policy()
    mailbox_hash = _mailbox_hash(request.email)
    holder = _signed_in_holder(mailbox_hash)
    current = holder.sign_in_code if holder is not None else None
    if holder is None or current is None:
        _code_hash(mailbox_hash, "none", request.code)  # the same work as for a known applicant
        failures = throttle.count_failure("sign-in-code", mailbox_hash, int(rules.ttl.total_seconds()), now)
        _refuse_code(rules, failures > rules.max_wrong_tries)
    # Counted before it is compared, in one conditional write: concurrent guesses each get a number of their own.
    tries = 0 if now >= current.expires_at else applicants.count_sign_in_try(holder.applicant_id, current.code_id)
    if tries is None:  # replaced or used meanwhile
        raise InvalidField(*_WRONG_CODE)
    matches = hmac.compare_digest(_code_hash(holder.applicant_id, current.code_id, request.code), current.code_hash)
    verdict = judge(tries, matches, current.expires_at, now, rules)
    if verdict is Verdict.EXPIRED:
        raise InvalidField(ErrorCode.CODE_EXPIRED, "this code has expired; ask for a new one", "code")
    if verdict is not Verdict.VERIFIED or not applicants.spend_sign_in_code(holder.applicant_id, current.code_id):
        _refuse_code(rules, verdict is Verdict.LOCKED)
    logger.info("signed in", extra={"applicant_id": holder.applicant_id})
    return {"applicant_id": holder.applicant_id, **access.new_token(holder.applicant_id, holder.token_generation)}


def deliver_code(wanted: notices.SignInCode) -> None:
    """The code consumer's part for sign-in codes: emails the code if it is still the applicant's current one and
    unexpired (a code replaced, used or expired on the way is dropped: a new sign-in sends a new one)."""
    applicant = applicants.find(wanted.applicant_id)
    current = applicant.sign_in_code if applicant is not None else None
    if applicant is None or current is None or current.code_id != wanted.code_id or clock.now() >= current.expires_at:
        logger.info("sign-in code no longer current", extra={"applicant_id": wanted.applicant_id})
        return
    notifications.deliver_sign_in_code(wanted, applicant)
    metrics.add_metric(name="SignInCodeSent", unit="Count", value=1)
