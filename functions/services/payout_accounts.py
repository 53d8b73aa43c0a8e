"""Payout accounts (docs/architecture.md, "After acceptance"): a member links or changes the account its incentives are
paid into, and the payment provider's account inquiry decides whether it is the member's and can receive money.

A link or change needs, besides the access token, a fresh one-time code sent to the member's verified email and
phone (`POST .../payout-account/code`): a token alone, which an agent who registered the member may still hold,
cannot redirect the incentives. A change is refused while a payment is in flight. It tells the member by email and
SMS before its check is queued: a change the member did not make (an account takeover) is never verified, and so
never paid into, unseen. The check runs on a capped consumer; its verdict counts only for the account it was
queued for.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from functions import clock
from functions.adapters import personal_data, queues
from functions.adapters.payment_provider import PaymentProvider, payment_provider
from functions.adapters.purposes import Purpose
from functions.domain import notices
from functions.domain.email_code import CODE_SHAPE
from functions.domain.errors import ErrorCode, InvalidField
from functions.domain.incentives import PayoutAccount, PayoutAccountStatus
from functions.domain.messages import PayoutAccountRequest, PayoutCheckRequest
from functions.domain.payments import AccountRejection, account_check, last4
from functions.domain.requests import parse_body
from functions.observability import logger, metrics
from functions.resources import PAYOUT_CHECK_MAX_CONCURRENCY, PAYOUT_CHECK_SHARE_OF_PROVIDER
from functions.services import incentive_payments, notifications
from functions.services import payout_account_codes as codes
from functions.settings import settings
from functions.store import applicants
from functions.store import payout_accounts as store

if TYPE_CHECKING:
    from functions.services.sqs_records import PayoutCheckRecord


def change_account(applicant_id: str, body: bytes, token: str) -> dict[str, Any]:
    """`PUT /applicants/{id}/payout-account`: with the member's one-time code, the account becomes PENDING under a
    new check id (the code used up), the member is told, and the provider's inquiry is queued."""
    request = parse_body(PayoutAccountRequest, body, {"providers": settings().payout_providers})
    if not CODE_SHAPE.fullmatch(request.code):
        raise InvalidField(ErrorCode.INVALID_CODE, "code must be six digits", "code")
    member = codes.active_member(applicant_id, token)
    code_id = codes.accepted_code(member, request.code, clock.now())
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
        raise codes.REFUSED[changed]
    try:
        notifications.SEND_NOW.send(
            [
                notices.PayoutAccountChanged(
                    applicant_id=applicant_id, check_id=check_id, provider=request.provider, last4=ending
                )
            ]
        )
        queues.send_now(
            settings().payout_checks_queue_url,
            PayoutCheckRequest(applicant_id=applicant_id, check_id=check_id).model_dump_json(),
        )
    except queues.QueueUnavailable:
        # The account waits PENDING, unchecked and so never paid into; the member changes it again to check it.
        raise codes.busy() from None
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
    notice = notices.PayoutAccountChecked(
        applicant_id=wanted.applicant_id,
        check_id=wanted.check_id,
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
