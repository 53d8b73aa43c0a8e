"""The code consumer: every one-time code (email verification, purchase consent, payout-account change, sign-in)
shares the email-code queue and its consumer, each kind sent by its own service, at most once. A send that fails
on throttling (SES's back-pressure) brings its message back soon, by its receive count, rather than after the
queue's visibility timeout: a member waiting for a code should not wait minutes for one throttled call."""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_never

from functions.adapters import queues
from functions.aws_clients import is_transient
from functions.domain import notices
from functions.domain.email_code import redelivery_delay
from functions.observability import metrics
from functions.services import email_codes, notifications, payout_account_codes, purchases, sign_in
from functions.settings import settings

if TYPE_CHECKING:
    from functions.services.sqs_records import CodeRecord


def deliver(record: CodeRecord, _sends: notifications.BatchSends) -> None:
    """Sends the code the message is for, by the service that keeps that kind of code."""
    try:
        _deliver(record.body)
    except Exception as error:
        if is_transient(error):
            metrics.add_metric(name="CodeDeferred", unit="Count", value=1)
            queues.come_back_in(
                settings().email_codes_queue_url,
                record.receiptHandle,
                redelivery_delay(int(record.attributes.ApproximateReceiveCount)),
            )
        raise


def _deliver(wanted: notices.Code) -> None:
    match wanted:
        case notices.EmailCode():
            email_codes.deliver_code(wanted)
        case notices.PurchaseCode():
            purchases.deliver_code(wanted)
        case notices.PayoutAccountCode():
            payout_account_codes.deliver_code(wanted)
        case notices.SignInCode():
            sign_in.deliver_code(wanted)
        case _:
            assert_never(wanted)
