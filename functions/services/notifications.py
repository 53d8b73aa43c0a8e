"""Telling applicants things: notices (`functions.domain.notices`) go on a queue, so a slow mail service never
slows the API or the consumers; the consumer looks the applicant up, opens its contact details and delivers the
notice's text by its channels. One-time codes go on a queue of their own (`queue_url`), so that no backlog of other
notices delays them."""

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
from functions.observability import logger, metrics
from functions.services import read_ahead
from functions.settings import settings
from functions.store import applicants

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

    from functions.services.sqs_records import NotificationRecord


def queue_url(request: notices.Notice) -> str:
    """Codes people wait for go on the code queue, ahead of any backlog of other notices."""
    current = settings()
    return current.email_codes_queue_url if isinstance(request, notices.CodeNotice) else current.notifications_queue_url


class NotificationSender(Protocol):
    def send(self, requests: Sequence[notices.Notice]) -> None: ...


class SendNow:
    """Puts requests on their queues at once (the API's paths)."""

    def send(self, requests: Sequence[notices.Notice]) -> None:
        for url in sorted({queue_url(request) for request in requests}):
            queues.send_all(url, [request.model_dump_json() for request in requests if queue_url(request) == url])


SEND_NOW = SendNow()


class BatchSends:
    """Notification requests made while one SQS batch is processed, sent together when it is done (one call
    per ten instead of one per record). A record whose requests were not taken is reported failed, so SQS
    brings it back; its work is done already, and the retry only asks again."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, notices.Notice]] = []

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

    def send(self, requests: Sequence[notices.Notice]) -> None:
        self.batch.requests.extend((self.message_id, request) for request in requests)


class BatchDelivery:
    """One SQS batch of notifications, its applicants read ahead in one call. An applicant read ahead serves its
    first notice in the batch only: a second notice to it reads it again, and so sees the first one noted."""

    def __init__(self, bodies: Iterable[str]) -> None:
        self._ahead = read_ahead.applicants_of(bodies, notices.TOLD.validate_json)

    def deliver_record(self, record: NotificationRecord, _sends: BatchSends) -> None:
        wanted = record.body
        _deliver(wanted, self._ahead.pop(wanted.applicant_id, None) or applicants.find(wanted.applicant_id))


def _deliver(wanted: notices.Told, applicant: Applicant | None) -> None:
    """Delivers one notification, at least once and, unless the consumer stops between sending and noting it,
    once only: each applicant record notes the notifications it has been sent."""
    if applicant is None:
        raise LookupError("the applicant is not stored yet")  # the message comes back once it is
    if wanted.notification_id in applicant.notified:
        return
    _send(applicant, wanted, wanted.render(settings()), wanted.details())
    applicants.mark_notified(applicant.applicant_id, wanted.notification_id)
    metrics.add_metric(name="NotificationSent", unit="Count", value=1)
    logger.info("notification sent", extra={"applicant_id": applicant.applicant_id, "kind": wanted.kind})


def deliver_email_code(wanted: notices.EmailCode, applicant: Applicant, sealed_code: str) -> None:
    """Emails the applicant its code (opened here, never logged; sealed to its mailbox)."""
    code = personal_data.open_text(sealed_code, applicant.email_hash, Purpose.EMAIL_CODE)
    _send(applicant, wanted, wanted.render(code, settings()), wanted.details(code))


def deliver_sign_in_code(wanted: notices.SignInCode, applicant: Applicant) -> None:
    """Emails the applicant a sign-in code, to its verified email (opened here, never logged)."""
    code = personal_data.open_text(wanted.sealed_code, applicant.applicant_id, Purpose.SIGN_IN_CODE)
    _send(applicant, wanted, wanted.render(code, settings()), wanted.details(code))


def deliver_purchase_code(
    wanted: notices.PurchaseCode, applicant: Applicant, purchase: Purchase, partner_name: str, sealed_code: str
) -> None:
    """Sends the member a purchase's code (opened here, never logged): the member's consent, naming the partner
    asking (`partner_name`, its display name as operators set it)."""
    code = personal_data.open_text(sealed_code, purchase.purchase_id, Purpose.PURCHASE_CODE)
    rendered = wanted.render(
        code, settings(), partner_name=partner_name, course_title=purchase.course_title, price=purchase.price
    )
    _send(applicant, wanted, rendered, wanted.details(code))


def deliver_payout_account_code(wanted: notices.PayoutAccountCode, applicant: Applicant, sealed_code: str) -> None:
    """Sends the member the code a change of payout account needs (opened here, never logged)."""
    code = personal_data.open_text(sealed_code, applicant.applicant_id, Purpose.PAYOUT_ACCOUNT_CODE)
    _send(applicant, wanted, wanted.render(code, settings()), wanted.details(code))


def _send(applicant: Applicant, notice: notices.Notice, rendered: notices.Rendered, details: dict[str, Any]) -> None:
    """The notice to each of its channels, at the applicant's email or phone."""
    person = personal_data.open_json(applicant.personal_data, applicant.applicant_id, Purpose.APPLICANT_DATA)
    for channel in notice.channels():
        deliver(
            Notification(
                to=person["email"] if channel == "email" else person["phone"],
                channel=channel,
                kind=notice.kind,
                applicant_id=applicant.applicant_id,
                subject=rendered.subject,
                text=rendered.text,
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
