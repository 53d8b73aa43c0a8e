"""The one-time code a member needs to link or change its payout account (`POST .../payout-account/code`): sent
to its verified email and phone, counted before it is compared, good once. A token alone, which an agent who
registered the member may still hold, cannot redirect the incentives."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import Any

from functions import clock
from functions.adapters import personal_data, queues
from functions.adapters.purposes import Purpose
from functions.domain import notices
from functions.domain.email_code import CodePolicy, IssuedCode, Verdict, judge, new_code
from functions.domain.errors import Conflict, ErrorCode, InvalidField, NotFound, Refusal, TooManyRequests
from functions.domain.incentives import MemberPayout
from functions.domain.lifecycle import Status
from functions.domain.membership import single_use_code_policy
from functions.observability import logger, metrics
from functions.services import notifications
from functions.services.access import authorised_applicant
from functions.settings import settings
from functions.store import applicants, throttle
from functions.store import payout_accounts as store

REFUSED: dict[store.Changed, Refusal] = {
    store.Changed.NOT_A_MEMBER: NotFound(ErrorCode.NOT_A_MEMBER, "only a member has a payout account"),
    store.Changed.NOT_ACTIVE: Conflict(ErrorCode.MEMBERSHIP_NOT_ACTIVE, "the membership is no longer active"),
    store.Changed.PAYMENT_IN_FLIGHT: Conflict(
        ErrorCode.PAYMENT_IN_FLIGHT, "an incentive is being paid into the current account; change it once that is done"
    ),
    store.Changed.CODE_USED: Conflict(
        ErrorCode.CODE_NOT_REQUESTED,
        "ask for a code first (POST /applicants/{id}/payout-account/code); each code changes the account once",
        "code",
    ),
}


def code_policy() -> CodePolicy:
    current = settings()
    return single_use_code_policy(current.payout_account_code_ttl_seconds, current.payout_account_code_max_wrong_tries)


def _code_hash(code_id: str, code: str) -> str:
    # Keyed: a plain hash of six digits would fall to a million guesses.
    return personal_data.lookup_hash("payout-account-code", f"{code_id}:{code}")


def active_member(applicant_id: str, token: str) -> MemberPayout:
    """The member whose token this is, while its account may change (ACTIVE, no payment in flight)."""
    applicant = authorised_applicant(applicant_id, token)
    member = store.find(applicant_id) if applicant is not None and applicant.status is Status.ACCEPTED else None
    if member is None:
        raise REFUSED[store.Changed.NOT_A_MEMBER]
    if member.state is not store.CHANGES_IN:
        raise REFUSED[store.Changed.NOT_ACTIVE]
    if member.payment_in_flight is not None:  # before any try at a code is counted
        raise REFUSED[store.Changed.PAYMENT_IN_FLIGHT]
    return member


# --- POST /applicants/{id}/payout-account/code --------------------------------------------------------------------


def request_code(applicant_id: str, token: str) -> dict[str, Any]:
    """A new one-time code for changing the payout account, sent to the member's email and phone (it replaces any
    earlier one); a few an hour, so the member's phone cannot be flooded."""
    active_member(applicant_id, token)
    now = clock.now()
    current = settings()
    window = current.payout_account_codes_window_seconds
    if throttle.count_failure("payout-account-code", applicant_id, window, now) > current.payout_account_codes_per_hour:
        wait = window - int(now.timestamp()) % window  # until the counted window is over
        raise TooManyRequests(
            ErrorCode.TOO_MANY_CODES, "too many codes asked for this hour; use the last one or try again later", wait
        )
    code_id, code = uuid.uuid4().hex, new_code()
    issued = IssuedCode(
        code_id=code_id,
        code_hash=_code_hash(code_id, code),
        issued_at=now,
        expires_at=now + code_policy().ttl,
        sealed=personal_data.seal_text(code, applicant_id, Purpose.PAYOUT_ACCOUNT_CODE),
    )
    if not store.issue_code(applicant_id, issued):
        raise REFUSED[store.Changed.NOT_ACTIVE]
    try:
        notifications.SEND_NOW.send([notices.PayoutAccountCode(applicant_id=applicant_id)])
    except queues.QueueUnavailable:
        raise busy() from None
    logger.info("payout account code issued", extra={"applicant_id": applicant_id})
    return {"expires_at": issued.expires_at.isoformat(), "sent_to": ["email", "sms"]}


def deliver_code(wanted: notices.PayoutAccountCode) -> None:
    """The code consumer's part for payout-account codes: sends the member's current code by email and SMS if it
    is unsent, at most once (`notifications.deliver_once`)."""
    member = store.find(wanted.applicant_id)
    code = None if member is None else member.code
    if code is None or code.sent_at is not None or not code.sealed:
        return  # used, replaced (its own message sends the new one) or sent already
    applicant = applicants.find(wanted.applicant_id)
    if applicant is None:
        raise RuntimeError("a member without its applicant record")
    sealed, now = code.sealed, clock.now()
    if notifications.deliver_once(
        "payout account code",
        code.expires_at,
        now,
        {"applicant_id": wanted.applicant_id},
        take=lambda: store.mark_code_sent(wanted.applicant_id, code.code_id, now),
        send=lambda: notifications.deliver_payout_account_code(wanted, applicant, sealed),
        give_back=lambda: store.unmark_code_sent(wanted.applicant_id, code.code_id, sealed, now),
    ):
        metrics.add_metric(name="PayoutAccountCodeSent", unit="Count", value=1)


def busy() -> TooManyRequests:
    return TooManyRequests(
        ErrorCode.BUSY, "payout accounts are busy; send the same request again shortly", settings().retry_after_seconds
    )


def accepted_code(member: MemberPayout, given: str, now: dt.datetime) -> str:
    """The id of the member's code when `given` is it (counted as a try first, in one conditional write, so
    concurrent guesses each count); otherwise the refusal."""
    code = member.code
    if code is None:
        raise REFUSED[store.Changed.CODE_USED]
    matches = hmac.compare_digest(_code_hash(code.code_id, given), code.code_hash)
    tries = store.count_code_try(member.applicant_id, code.code_id)
    if tries is None:
        raise REFUSED[store.Changed.CODE_USED]  # used or replaced meanwhile
    verdict = judge(tries, matches, code.expires_at, now, code_policy())
    if verdict is Verdict.LOCKED:
        life_left = max(int((code.expires_at - now).total_seconds()) + 1, 1)
        raise TooManyRequests(ErrorCode.CODE_LOCKED, "too many wrong codes; ask for a new code", life_left, "code")
    if verdict is Verdict.EXPIRED:
        raise InvalidField(ErrorCode.CODE_EXPIRED, "the code has expired; ask for a new one", "code")
    if verdict is not Verdict.VERIFIED:
        raise InvalidField(ErrorCode.WRONG_CODE, "the code is not right", "code")
    return code.code_id
