"""The code consumer: every one-time code (email verification, purchase consent, payout-account change, sign-in)
shares the email-code queue and its consumer, each kind sent by its own service, at most once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from functions.services import email_codes, notifications, payout_account_codes, purchases, sign_in

if TYPE_CHECKING:
    from functions.domain.messages import NotificationRequest
    from functions.services.sqs_records import NotificationRecord

_BY_KIND: dict[str, Callable[[NotificationRequest], None]] = {
    notifications.PURCHASE_CODE: purchases.deliver_code,
    notifications.PAYOUT_ACCOUNT_CODE: payout_account_codes.deliver_code,
    notifications.SIGN_IN_CODE: sign_in.deliver_code,
}


def deliver(record: NotificationRecord, _sends: notifications.BatchSends) -> None:
    """Sends the code the message is for; an email verification code when the message names no other kind."""
    deliver_kind = _BY_KIND.get(record.body.kind)
    if deliver_kind is None:
        email_codes.deliver_code(record)
    else:
        deliver_kind(record.body)
