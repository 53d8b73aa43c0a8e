"""Mailboxes: the email code each one currently has and the code emails it was sent, whichever registrations named
it (`domain.email_code.Mailbox`). Every change is one conditional write on the version read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pynamodb.exceptions import DoesNotExist

from functions.domain.email_code import DAY, IssuedCode, Mailbox
from functions.store.models import MailboxRecord, bind, mailbox_key
from functions.store.transactions import update_if


def find(mailbox: str) -> Mailbox:
    """The mailbox as stored (a mailbox never written has no code and no emails)."""
    bind()
    try:
        record = MailboxRecord.get(mailbox_key(mailbox), consistent_read=True)
    except DoesNotExist:
        return Mailbox()
    code = (
        IssuedCode(
            record.code_id, record.code_hash, record.code_issued_at, record.code_expires_at, sealed=record.code_sealed
        )
        if record.code_id and record.code_hash and record.code_issued_at and record.code_expires_at
        else None
    )
    sent = tuple(sorted(dt.datetime.fromisoformat(moment) for moment in record.sent_at or ()))
    return Mailbox(code, sent, int(record.version or 0))


def note_code_email(mailbox: str, seen: Mailbox, sent_at: Sequence[dt.datetime]) -> bool:
    """Records `sent_at` as the mailbox's code emails, its current email code unchanged (a sign-in code, which is
    the applicant's, counts here too), unless the mailbox changed since `seen` was read (False: read it again)."""
    bind()
    unchanged = MailboxRecord.counter.does_not_exist() if seen.version == 0 else MailboxRecord.version == seen.version
    last = max([moment + DAY for moment in sent_at] + ([seen.code.expires_at] if seen.code else []))
    return update_if(
        MailboxRecord(counter=mailbox_key(mailbox)),
        [
            MailboxRecord.sent_at.set([moment.isoformat() for moment in sent_at]),
            MailboxRecord.version.set(seen.version + 1),
            MailboxRecord.expires_at.set(int(last.timestamp()) + 1),
        ],
        unchanged,
    )


def note_code(mailbox: str, seen: Mailbox, code: IssuedCode, sent_at: Sequence[dt.datetime]) -> bool:
    """Makes `code` the mailbox's current one and `sent_at` its code emails, unless it changed since `seen` was
    read (False: read it again)."""
    bind()
    unchanged = MailboxRecord.counter.does_not_exist() if seen.version == 0 else MailboxRecord.version == seen.version
    last = max([code.expires_at, *(moment + DAY for moment in sent_at)])
    history = [moment.isoformat() for moment in sent_at]
    return update_if(
        MailboxRecord(counter=mailbox_key(mailbox)),
        [
            MailboxRecord.code_id.set(code.code_id),
            MailboxRecord.code_hash.set(code.code_hash),
            MailboxRecord.code_issued_at.set(code.issued_at),
            MailboxRecord.code_expires_at.set(code.expires_at),
            MailboxRecord.code_sealed.set(code.sealed) if code.sealed else MailboxRecord.code_sealed.remove(),
            MailboxRecord.sent_at.set(history) if history else MailboxRecord.sent_at.remove(),
            MailboxRecord.version.set(seen.version + 1),
            MailboxRecord.expires_at.set(int(last.timestamp()) + 1),
        ],
        unchanged,
    )
