"""Payout accounts (DESIGN.md, "After acceptance"): a member links or changes the account its incentives are paid
into, and the payment provider's account inquiry decides whether it is the member's and can receive money.

A link or change needs, besides the access token, a fresh one-time code sent to the member's verified email and
phone (`POST .../payout-account/code`): a token alone, which an agent who registered the member may still hold,
cannot redirect the incentives. A change is refused while a payment is in flight. It tells the member by email and
SMS before its check is queued: a change the member did not make (an account takeover) is never verified, and so
never paid into, unseen. The check runs on a capped consumer; its verdict counts only for the account it was
queued for.
"""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from typing import TYPE_CHECKING, Any

from functions import clock
from functions.adapters import personal_data, queues
from functions.adapters.payment_provider import PaymentProvider, payment_provider
from functions.adapters.purposes import Purpose
from functions.domain.email_code import CODE_SHAPE, CodePolicy, IssuedCode, Verdict, judge, new_code
from functions.domain.errors import Conflict, InvalidField, NotFound, Refusal, TooManyRequests
from functions.domain.incentives import MemberPayout, PayoutAccount, PayoutAccountStatus
from functions.domain.lifecycle import Status
from functions.domain.membership import single_use_code_policy
from functions.domain.messages import NotificationRequest, PayoutAccountRequest, PayoutCheckRequest
from functions.domain.payments import AccountRejection, account_check, last4
from functions.domain.requests import parse_body
from functions.observability import logger, metrics
from functions.resources import PAYOUT_CHECK_MAX_CONCURRENCY, PAYOUT_CHECK_SHARE_OF_PROVIDER
from functions.services import incentive_payments, notifications
from functions.services.applicant_view import authorised_applicant
from functions.settings import settings
from functions.store import applicants, throttle
from functions.store import payout_accounts as store

if TYPE_CHECKING:
    from functions.services.sqs_records import PayoutCheckRecord

_REFUSED: dict[store.Changed, Refusal] = {
    store.Changed.NOT_A_MEMBER: NotFound("NOT_A_MEMBER", "only a member has a payout account"),
    store.Changed.NOT_ACTIVE: Conflict("MEMBERSHIP_NOT_ACTIVE", "the membership is no longer active"),
    store.Changed.PAYMENT_IN_FLIGHT: Conflict(
        "PAYMENT_IN_FLIGHT", "an incentive is being paid into the current account; change it once that is done"
    ),
    store.Changed.CODE_USED: Conflict(
        "CODE_NOT_REQUESTED",
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


def _active_member(applicant_id: str, token: str) -> MemberPayout:
    """The member whose token this is, while its account may change (ACTIVE, no payment in flight)."""
    applicant = authorised_applicant(applicant_id, token)
    member = store.find(applicant_id) if applicant is not None and applicant.status is Status.ACCEPTED else None
    if member is None:
        raise _REFUSED[store.Changed.NOT_A_MEMBER]
    if member.state is not store.CHANGES_IN:
        raise _REFUSED[store.Changed.NOT_ACTIVE]
    if member.payment_in_flight is not None:  # before any try at a code is counted
        raise _REFUSED[store.Changed.PAYMENT_IN_FLIGHT]
    return member


# --- POST /applicants/{id}/payout-account/code --------------------------------------------------------------------


def request_code(applicant_id: str, token: str) -> dict[str, Any]:
    """A new one-time code for changing the payout account, sent to the member's email and phone (it replaces any
    earlier one); a few an hour, so the member's phone cannot be flooded."""
    _active_member(applicant_id, token)
    now = clock.now()
    current = settings()
    window = current.payout_account_codes_window_seconds
    if throttle.count_failure("payout-account-code", applicant_id, window, now) > current.payout_account_codes_per_hour:
        wait = window - int(now.timestamp()) % window  # until the counted window is over
        raise TooManyRequests(
            "TOO_MANY_CODES", "too many codes asked for this hour; use the last one or try again later", wait
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
        raise _REFUSED[store.Changed.NOT_ACTIVE]
    try:
        notifications.SEND_NOW.send([notifications.payout_account_code_request(applicant_id, code_id)])
    except queues.QueueUnavailable:
        raise _busy() from None
    logger.info("payout account code issued", extra={"applicant_id": applicant_id})
    return {"expires_at": issued.expires_at.isoformat(), "sent_to": ["email", "sms"]}


def deliver_code(wanted: NotificationRequest) -> None:
    """The code consumer's part for payout-account codes: sends the member's current code by email and SMS if it
    is unsent, taking the sending first (at most once); a delivery that fails gives it back for SQS's next try."""
    member = store.find(wanted.applicant_id)
    code = None if member is None else member.code
    if code is None or code.sent_at is not None or not code.sealed:
        return  # used, replaced (its own message sends the new one) or sent already
    now = clock.now()
    if now >= code.expires_at:
        logger.info("payout account code expired unsent", extra={"applicant_id": wanted.applicant_id})
        return
    applicant = applicants.find(wanted.applicant_id)
    if applicant is None:
        raise RuntimeError("a member without its applicant record")
    if not store.mark_code_sent(wanted.applicant_id, code.code_id, now):
        return
    try:
        notifications.deliver_payout_account_code(applicant, code.sealed)
    except Exception:
        store.unmark_code_sent(wanted.applicant_id, code.code_id, code.sealed, now)
        raise
    metrics.add_metric(name="PayoutAccountCodeSent", unit="Count", value=1)


def _busy() -> TooManyRequests:
    return TooManyRequests(
        "BUSY", "payout accounts are busy; send the same request again shortly", settings().retry_after_seconds
    )


def _code_accepted(member: MemberPayout, given: str, now: dt.datetime) -> str:
    """The id of the member's code when `given` is it (counted as a try first, in one conditional write, so
    concurrent guesses each count); otherwise the refusal."""
    code = member.code
    if code is None:
        raise _REFUSED[store.Changed.CODE_USED]
    matches = hmac.compare_digest(_code_hash(code.code_id, given), code.code_hash)
    tries = store.count_code_try(member.applicant_id, code.code_id)
    if tries is None:
        raise _REFUSED[store.Changed.CODE_USED]  # used or replaced meanwhile
    verdict = judge(tries, matches, code.expires_at, now, code_policy())
    if verdict is Verdict.LOCKED:
        life_left = max(int((code.expires_at - now).total_seconds()) + 1, 1)
        raise TooManyRequests("CODE_LOCKED", "too many wrong codes; ask for a new code", life_left, "code")
    if verdict is Verdict.EXPIRED:
        raise InvalidField("CODE_EXPIRED", "the code has expired; ask for a new one", "code")
    if verdict is not Verdict.VERIFIED:
        raise InvalidField("WRONG_CODE", "the code is not right", "code")
    return code.code_id


def change_account(applicant_id: str, body: bytes, token: str) -> dict[str, Any]:
    """`PUT /applicants/{id}/payout-account`: with the member's one-time code, the account becomes PENDING under a
    new check id (the code used up), the member is told, and the provider's inquiry is queued."""
    request = parse_body(PayoutAccountRequest, body, {"providers": settings().payout_providers})
    if not CODE_SHAPE.fullmatch(request.code):
        raise InvalidField("INVALID_CODE", "code must be six digits", "code")
    member = _active_member(applicant_id, token)
    code_id = _code_accepted(member, request.code, clock.now())
    check_id = uuid.uuid4().hex
    ending = last4(request.account_number)
    sealed = personal_data.seal_text(request.account_number, applicant_id, Purpose.PAYOUT_ACCOUNT)
    changed = store.change(
        applicant_id,
        check_id,
        code_id,
        provider=request.provider,
        sealed_number=sealed,
        last4=ending,
        account_hash=incentive_payments.payout_account_hash(request.provider, request.account_number),
        now=clock.now(),
    )
    if changed is not store.Changed.DONE:
        raise _REFUSED[changed]
    try:
        notifications.SEND_NOW.send(
            [notifications.payout_account_changed_request(applicant_id, check_id, request.provider, ending)]
        )
        queues.send_now(
            settings().payout_checks_queue_url,
            PayoutCheckRequest(applicant_id=applicant_id, check_id=check_id).model_dump_json(),
        )
    except queues.QueueUnavailable:
        # The account waits PENDING, unchecked and so never paid into; the member changes it again to check it.
        raise _busy() from None
    metrics.add_metric(name="PayoutAccountChanged", unit="Count", value=1)
    logger.info("payout account changed", extra={"applicant_id": applicant_id, "provider": request.provider})
    return {"provider": request.provider, "last4": ending, "status": PayoutAccountStatus.PENDING.value, "reason": None}


def check_record(record: PayoutCheckRecord, sends: notifications.BatchSends) -> None:
    """The payout-check consumer's record handler: asks the provider about the account as changed by the record's
    check id, records VERIFIED or REJECTED if the account has not changed since, and tells the member. The
    provider unavailable fails the record (SQS brings it back) with no verdict."""
    wanted = record.body
    member = store.find(wanted.applicant_id)
    account = member.account if member is not None else None
    if account is None or account.check_id != wanted.check_id:
        logger.info("payout check superseded by a later change", extra={"applicant_id": wanted.applicant_id})
        return
    status, reason = account.status, account.reason
    if status is PayoutAccountStatus.PENDING:
        reason = _inquire(wanted.applicant_id, account)
        if not store.record_verdict(wanted.applicant_id, wanted.check_id, reason, clock.now()):
            return  # changed meanwhile (its own check decides), or another delivery recorded this one and tells
        status = PayoutAccountStatus.VERIFIED if reason is None else PayoutAccountStatus.REJECTED
        metrics.add_metric(name=f"PayoutAccount{status.value.title()}", unit="Count", value=1)
        logger.info(
            "payout account checked",
            extra={"applicant_id": wanted.applicant_id, "status": status.value, "reason": reason},
        )
    verified = store.find(wanted.applicant_id) if status is PayoutAccountStatus.VERIFIED else None
    pinned = None if verified is None or verified.account is None else verified.account.pinned
    if pinned is not None and pinned.check_id == wanted.check_id:
        # A payment that failed on the old account goes again, pinned to this one (also on a redelivery:
        # requeueing is conditional on the account still being this one, verified).
        incentive_payments.account_verified(wanted.applicant_id, pinned)
    # Also on a redelivery after the verdict: the notification consumer delivers each notice once.
    notice = notifications.payout_account_checked_request(
        wanted.applicant_id,
        wanted.check_id,
        provider=account.provider,
        last4=account.last4,
        status=status.value,
        reason=reason.value if reason else None,
    )
    sends.for_message(record.messageId).send([notice])


def _inquire(applicant_id: str, account: PayoutAccount) -> AccountRejection | None:
    """The provider's inquiry judged against the member's own name and NIK (opened here, never logged)."""
    applicant = applicants.find(applicant_id)
    if applicant is None:
        raise LookupError("a payout check for an applicant that is not stored")
    person = personal_data.open_json(applicant.personal_data, applicant_id, Purpose.APPLICANT_DATA)
    number = personal_data.open_text(account.sealed_number, applicant_id, Purpose.PAYOUT_ACCOUNT)
    inquiry = inquiry_provider().inquire(account.provider, number)
    return account_check(person["full_name"], person["nik"], inquiry)


def inquiry_provider() -> PaymentProvider:
    """The payout-check consumer's provider client, with the account checks' share of the provider's ceiling."""
    return payment_provider(PAYOUT_CHECK_MAX_CONCURRENCY, PAYOUT_CHECK_SHARE_OF_PROVIDER)
