"""Outgoing email and SMS: SES and SNS when deployed, and the outbox file (one JSON object per line) locally.

The outbox is what the local stack has instead of a mail server: tests and the main job read codes from it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.aws_clients import client
from functions.settings import settings


@dataclass(frozen=True)
class Notification:
    """One message to one recipient, with only what the recipient needs."""

    to: str
    channel: str  # "email" or "sms"
    kind: str  # "email_code", "nik_result", "acceptance", "not_selected"
    applicant_id: str
    subject: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)  # e.g. {"code": "123456"} or {"status": ..., "reason": ...}


def deliver(notification: Notification) -> None:
    current = settings()
    if current.notifier == "aws":
        _send_through_aws(notification)
    if current.notifier == "outbox" or (current.notifier == "aws" and current.outbox_path):
        _append_to_outbox(Path(current.outbox_path), notification)


def _send_through_aws(notification: Notification) -> None:
    if notification.channel == "email":
        client("ses").send_email(
            Source=settings().email_sender,
            Destination={"ToAddresses": [notification.to]},
            Message={"Subject": {"Data": notification.subject}, "Body": {"Text": {"Data": notification.text}}},
        )
    else:
        client("sns").publish(PhoneNumber=notification.to, Message=notification.text)


def _append_to_outbox(path: Path, notification: Notification) -> None:
    line = {
        "to": notification.to,
        "channel": notification.channel,
        "kind": notification.kind,
        "applicant_id": notification.applicant_id,
        **notification.details,
        "subject": notification.subject,
        "sent_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as outbox:
        # Several consumer processes append at once; a whole line each.
        fcntl.flock(outbox, fcntl.LOCK_EX)
        outbox.write(json.dumps(line, ensure_ascii=False) + "\n")
        fcntl.flock(outbox, fcntl.LOCK_UN)
