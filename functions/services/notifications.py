"""Telling applicants things: requests go on a queue, so a slow mail service never slows the API or the
consumers; the consumer looks the applicant up, opens its contact details and delivers. Email codes go on a queue
of their own (`queue_url`), so that no backlog of other notices delays them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from functions.adapters import personal_data, queues
from functions.adapters.notifier import Notification, deliver
from functions.adapters.purposes import Purpose
from functions.domain import notices
from functions.domain.lifecycle import Applicant
from functions.domain.membership import Purchase
from functions.domain.messages import NotificationRequest
from functions.observability import logger, metrics
from functions.services import read_ahead
from functions.settings import settings
from functions.store import applicants

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

    from functions.services.sqs_records import NotificationRecord


EMAIL_CODE = "email_code"
PURCHASE_CODE = "purchase_code"
PAYOUT_ACCOUNT_CODE = "payout_account_code"
SIGN_IN_CODE = "sign_in_code"
# Codes people wait for go on the code queue, ahead of any backlog of other notices.
CODE_KINDS = frozenset({EMAIL_CODE, PURCHASE_CODE, PAYOUT_ACCOUNT_CODE, SIGN_IN_CODE})


def email_code_request(applicant_id: str) -> NotificationRequest:
    """Asks for the applicant's current email code to be sent, if it has not been: any number of these for one
    code send it once (the code consumer's `mark_code_sent`), and a message older than the code sends the new one."""
    return NotificationRequest(
        notification_id=f"{EMAIL_CODE}:{applicant_id}", kind=EMAIL_CODE, applicant_id=applicant_id
    )


def purchase_code_request(purchase_id: str, applicant_id: str) -> NotificationRequest:
    """Asks for a purchase's code to be sent to its member, if it has not been (sent once, like email codes)."""
    return NotificationRequest(
        notification_id=f"{PURCHASE_CODE}:{purchase_id}",
        kind=PURCHASE_CODE,
        applicant_id=applicant_id,
        purchase_id=purchase_id,
    )


def payout_account_code_request(applicant_id: str, code_id: str) -> NotificationRequest:
    """Asks for the member's current payout-account code to be sent, if it has not been (sent once)."""
    return NotificationRequest(
        notification_id=f"{PAYOUT_ACCOUNT_CODE}:{code_id}", kind=PAYOUT_ACCOUNT_CODE, applicant_id=applicant_id
    )


def sign_in_code_request(applicant_id: str, code_id: str, sealed_code: str) -> NotificationRequest:
    """Asks for a sign-in code to be emailed to the applicant's verified email, while it is still its current one."""
    return NotificationRequest(
        notification_id=f"{SIGN_IN_CODE}:{code_id}",
        kind=SIGN_IN_CODE,
        applicant_id=applicant_id,
        code_id=code_id,
        sealed_code=sealed_code,
    )


def claim_released_request(applicant_id: str) -> NotificationRequest:
    """A NIK claim is released once (its holder ends REJECTED), so one notice per holder."""
    return NotificationRequest(
        notification_id=f"claim_released:{applicant_id}", kind="claim_released", applicant_id=applicant_id
    )


def nik_result_request(applicant_id: str, status: str, reason: str | None) -> NotificationRequest:
    return NotificationRequest(
        notification_id=f"nik_result:{applicant_id}",
        kind="nik_result",
        applicant_id=applicant_id,
        status=status,
        reason=reason,
    )


def acceptance_request(applicant_id: str, wave: int) -> NotificationRequest:
    return NotificationRequest(
        notification_id=f"acceptance:{applicant_id}:{wave}", kind="acceptance", applicant_id=applicant_id, wave=wave
    )


def not_selected_request(applicant_id: str, wave: int) -> NotificationRequest:
    return NotificationRequest(
        notification_id=f"not_selected:{applicant_id}:{wave}", kind="not_selected", applicant_id=applicant_id, wave=wave
    )


def membership_revoked_request(applicant_id: str, reason: str) -> NotificationRequest:
    """A membership is revoked once, so one notice per member."""
    return NotificationRequest(
        notification_id=f"membership_revoked:{applicant_id}",
        kind="membership_revoked",
        applicant_id=applicant_id,
        reason=reason,
    )


def payout_account_changed_request(applicant_id: str, check_id: str, provider: str, last4: str) -> NotificationRequest:
    """One notice per change (each change has its own check id)."""
    return NotificationRequest(
        notification_id=f"payout_account_changed:{check_id}",
        kind="payout_account_changed",
        applicant_id=applicant_id,
        payout_provider=provider,
        account_last4=last4,
    )


def payout_account_checked_request(
    applicant_id: str, check_id: str, *, provider: str, last4: str, status: str, reason: str | None
) -> NotificationRequest:
    """One verdict per change of account."""
    return NotificationRequest(
        notification_id=f"payout_account_checked:{check_id}",
        kind="payout_account_checked",
        applicant_id=applicant_id,
        status=status,
        reason=reason,
        payout_provider=provider,
        account_last4=last4,
    )


def registration_attempt_request(holder_id: str, attempt_id: str, named: Sequence[str]) -> NotificationRequest:
    """Tells the holder of a claimed email or phone that another registration (`attempt_id`, never shown) named
    it: once per attempting registration (noted on the holder's record)."""
    return NotificationRequest(
        notification_id=f"registration_attempt:{attempt_id}",
        kind="registration_attempt",
        applicant_id=holder_id,
        named=tuple(named),
    )


def incentive_paid_request(applicant_id: str, payment_id: str, number: int, amount: int) -> NotificationRequest:
    """A payment is paid once, so one notice per payment."""
    return NotificationRequest(
        notification_id=f"incentive_paid:{payment_id}",
        kind="incentive_paid",
        applicant_id=applicant_id,
        number=number,
        amount=amount,
    )


def incentive_held_request(applicant_id: str, payment_id: str, number: int, reason: str) -> NotificationRequest:
    return NotificationRequest(
        notification_id=f"incentive_held:{payment_id}",
        kind="incentive_held",
        applicant_id=applicant_id,
        number=number,
        reason=reason,
    )


def incentive_failed_request(
    applicant_id: str, payment_id: str, number: int, attempt: int, reason: str
) -> NotificationRequest:
    """One notice per attempt: a payment that fails again after the account changed is told again."""
    return NotificationRequest(
        notification_id=f"incentive_failed:{payment_id}:{attempt}",
        kind="incentive_failed",
        applicant_id=applicant_id,
        number=number,
        reason=reason,
    )


def queue_url(request: NotificationRequest) -> str:
    current = settings()
    return current.email_codes_queue_url if request.kind in CODE_KINDS else current.notifications_queue_url


class NotificationSender(Protocol):
    def send(self, requests: Sequence[NotificationRequest]) -> None: ...


class SendNow:
    """Puts requests on their queues at once (the API's paths)."""

    def send(self, requests: Sequence[NotificationRequest]) -> None:
        for url in sorted({queue_url(request) for request in requests}):
            queues.send_all(url, [request.model_dump_json() for request in requests if queue_url(request) == url])


SEND_NOW = SendNow()


class BatchSends:
    """Notification requests made while one SQS batch is processed, sent together when it is done (one call
    per ten instead of one per record). A record whose requests were not taken is reported failed, so SQS
    brings it back; its work is done already, and the retry only asks again."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, NotificationRequest]] = []

    def for_message(self, message_id: str) -> NotificationSender:
        return _ForMessage(self, message_id)

    def flush(self, response: PartialItemFailureResponse) -> PartialItemFailureResponse:
        if not self.requests:
            return response
        failed: set[str] = set()
        for url in sorted({queue_url(request) for _, request in self.requests}):
            mine = [(message_id, request) for message_id, request in self.requests if queue_url(request) == url]
            refused = queues.send_many(url, [request.model_dump_json() for _, request in mine])
            failed.update(mine[index][0] for index in refused)
        known = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        response["batchItemFailures"].extend({"itemIdentifier": m} for m in sorted(failed - known))
        return response


class _ForMessage:
    def __init__(self, batch: BatchSends, message_id: str) -> None:
        self.batch, self.message_id = batch, message_id

    def send(self, requests: Sequence[NotificationRequest]) -> None:
        self.batch.requests.extend((self.message_id, request) for request in requests)


class BatchDelivery:
    """One SQS batch of notifications, its applicants read ahead in one call. An applicant read ahead serves its
    first notice in the batch only: a second notice to it reads it again, and so sees the first one noted."""

    def __init__(self, bodies: Iterable[str]) -> None:
        self._ahead = read_ahead.applicants_of(bodies, NotificationRequest)

    def deliver_record(self, record: NotificationRecord, _sends: BatchSends) -> None:
        wanted = record.body
        _deliver(wanted, self._ahead.pop(wanted.applicant_id, None) or applicants.find(wanted.applicant_id))


def _deliver(wanted: NotificationRequest, applicant: Applicant | None) -> None:
    """Delivers one notification, at least once and, unless the consumer stops between sending and noting it,
    once only: each applicant record notes the notifications it has been sent."""
    if applicant is None:
        raise LookupError("the applicant is not stored yet")  # the message comes back once it is
    if wanted.notification_id in applicant.notified:
        return
    person = personal_data.open_json(applicant.personal_data, applicant.applicant_id, Purpose.APPLICANT_DATA)
    notice, details, channels = _rendered(wanted, applicant)
    for channel in channels:
        deliver(
            Notification(
                to=person["email"] if channel == "email" else person["phone"],
                channel=channel,
                kind=wanted.kind,
                applicant_id=applicant.applicant_id,
                subject=notice.subject,
                text=notice.text,
                details=details,
            )
        )
    applicants.mark_notified(applicant.applicant_id, wanted.notification_id)
    metrics.add_metric(name="NotificationSent", unit="Count", value=1)
    logger.info("notification sent", extra={"applicant_id": applicant.applicant_id, "kind": wanted.kind})


def _rendered(wanted: NotificationRequest, applicant: Applicant) -> tuple[notices.Notice, dict[str, Any], list[str]]:
    """A request's notice, the details the outbox shows with it, and the channels it goes by."""
    details: dict[str, Any]
    channels = ["email"]
    if wanted.kind == "nik_result":
        current = settings()
        notice = notices.nik_result(
            wanted.status or "", wanted.reason, min_age=current.min_age, max_age=current.max_age
        )
        details = {"status": wanted.status, "reason": wanted.reason}
    elif wanted.kind == "acceptance":
        notice = notices.acceptance(wanted.wave or 0)
        details = {"wave": wanted.wave}
        channels = ["email", "sms"]  # the result matters enough to reach the phone too (never the card number)
    elif wanted.kind == "not_selected":
        notice = notices.not_selected(wanted.wave or 0)
        details = {"wave": wanted.wave, "next_wave": (wanted.wave or 0) + 1}
    elif wanted.kind == "membership_revoked":
        notice = notices.membership_revoked(wanted.reason or "", settings().first_purchase_days)
        details = {"reason": wanted.reason}
        channels = ["email", "sms"]  # the balance is gone: the member hears of it on the phone too
    elif wanted.kind == "payout_account_changed":
        notice = notices.payout_account_changed(wanted.payout_provider or "", wanted.account_last4 or "")
        details = {"provider": wanted.payout_provider, "last4": wanted.account_last4}
        channels = ["email", "sms"]  # a change the member did not make is a takeover: it must not go unseen
    elif wanted.kind == "payout_account_checked":
        notice = notices.payout_account_checked(
            wanted.payout_provider or "", wanted.account_last4 or "", wanted.status or "", wanted.reason
        )
        details = {
            "provider": wanted.payout_provider,
            "last4": wanted.account_last4,
            "status": wanted.status,
            "reason": wanted.reason,
        }
    elif wanted.kind == "claim_released":
        notice = notices.claim_released(applicant.applicant_id)
        details = {}
        channels = ["email", "sms"]  # a registration ended by an operator must not go unseen
    elif wanted.kind == "registration_attempt":
        notice = notices.registration_attempt(wanted.named)
        details = {"named": list(wanted.named)}
        # Told where it was named: a phone another registration named hears of it on the phone too.
        channels = ["email", "sms"] if "phone" in wanted.named else ["email"]
    elif wanted.kind == "incentive_paid":
        notice = notices.incentive_paid(wanted.number or 0, wanted.amount or 0)
        details = {"number": wanted.number, "amount": wanted.amount}
    elif wanted.kind in ("incentive_held", "incentive_failed"):
        told = notices.incentive_held if wanted.kind == "incentive_held" else notices.incentive_failed
        notice = told(wanted.number or 0, wanted.reason or "")
        details = {"number": wanted.number, "reason": wanted.reason}
        channels = ["email", "sms"]  # money the member counted on is not coming: the phone hears of it too
    else:
        raise ValueError(f"unknown notification kind {wanted.kind}")
    return notice, details, channels


def deliver_email_code(applicant: Applicant, sealed_code: str) -> None:
    """Emails the applicant its code (opened here, never logged; sealed to its mailbox)."""
    code = personal_data.open_text(sealed_code, applicant.email_hash, Purpose.EMAIL_CODE)
    _email_code(applicant, EMAIL_CODE, code, notices.email_code(code, settings().email_code_ttl_seconds // 3600))


def deliver_sign_in_code(applicant: Applicant, sealed_code: str) -> None:
    """Emails the applicant a sign-in code, to its verified email (opened here, never logged)."""
    code = personal_data.open_text(sealed_code, applicant.applicant_id, Purpose.SIGN_IN_CODE)
    _email_code(applicant, SIGN_IN_CODE, code, notices.sign_in_code(code, settings().sign_in_code_ttl_seconds // 60))


def _email_code(applicant: Applicant, kind: str, code: str, notice: notices.Notice) -> None:
    person = personal_data.open_json(applicant.personal_data, applicant.applicant_id, Purpose.APPLICANT_DATA)
    deliver(
        Notification(
            to=person["email"],
            channel="email",
            kind=kind,
            applicant_id=applicant.applicant_id,
            subject=notice.subject,
            text=notice.text,
            details={"code": code},
        )
    )


def deliver_purchase_code(applicant: Applicant, purchase: Purchase, partner_name: str, sealed_code: str) -> None:
    """Sends the member a purchase's code by email and SMS (opened here, never logged): the member's consent, naming
    the partner asking (`partner_name`, its display name as operators set it)."""
    code = personal_data.open_text(sealed_code, purchase.purchase_id, Purpose.PURCHASE_CODE)
    notice = notices.purchase_code(
        code, partner_name, purchase.course_title, purchase.price, settings().purchase_code_ttl_seconds // 60
    )
    _deliver_code_to_email_and_phone(
        applicant, PURCHASE_CODE, notice, {"purchase_id": purchase.purchase_id, "code": code}
    )


def deliver_payout_account_code(applicant: Applicant, sealed_code: str) -> None:
    """Sends the member the code a change of payout account needs, by email and SMS (opened here, never logged)."""
    code = personal_data.open_text(sealed_code, applicant.applicant_id, Purpose.PAYOUT_ACCOUNT_CODE)
    notice = notices.payout_account_code(code, settings().payout_account_code_ttl_seconds // 60)
    _deliver_code_to_email_and_phone(applicant, PAYOUT_ACCOUNT_CODE, notice, {"code": code})


def _deliver_code_to_email_and_phone(
    applicant: Applicant, kind: str, notice: notices.Notice, details: dict[str, Any]
) -> None:
    person = personal_data.open_json(applicant.personal_data, applicant.applicant_id, Purpose.APPLICANT_DATA)
    for channel, to in (("email", person["email"]), ("sms", person["phone"])):
        deliver(
            Notification(
                to=to,
                channel=channel,
                kind=kind,
                applicant_id=applicant.applicant_id,
                subject=notice.subject,
                text=notice.text,
                details=details,
            )
        )


def deliver_once(
    what: str,
    expires_at: dt.datetime,
    now: dt.datetime,
    ids: dict[str, str],
    *,
    take: Callable[[], bool],
    send: Callable[[], None],
    give_back: Callable[[], None],
) -> bool:
    """A one-time code's delivery, at most once and only while it lives: `take` the sending first (one conditional
    write: False when another delivery took it, or the code was replaced or used), then `send`; a send that fails
    gives the sending back and raises, so that the message comes back (`code_delivery` brings it back soon when the
    failure is throttling). `what` and `ids` (no personal data) name the code in the log."""
    if now >= expires_at:
        logger.info(f"{what} expired unsent", extra=ids)
        return False
    if not take():
        return False
    try:
        send()
    except Exception:
        give_back()
        raise
    return True
