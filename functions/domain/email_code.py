"""Email verification codes: six digits from a CSPRNG, a day's life, five tries, limited resends."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from enum import Enum

CODE_SHAPE = re.compile(r"[0-9]{6}")
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


@dataclass(frozen=True)
class IssuedCode:
    """An email code as stored: its id, a keyed hash of it, and its life; until it is sent, the code itself
    sealed to its applicant (`sealed`, opaque here), and once sent, when (`sent_at`): each code is sent once."""

    code_id: str
    code_hash: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    sealed: str | None = None
    sent_at: dt.datetime | None = None


@dataclass(frozen=True)
class CodePolicy:
    ttl: dt.timedelta
    max_wrong_tries: int
    resend_interval: dt.timedelta
    resends_per_day: int
    mailbox_codes_per_hour: int = 0  # 0: email codes only (purchase codes go to a member, not a mailbox)
    mailbox_codes_per_day: int = 0


@dataclass(frozen=True)
class Mailbox:
    """What the programme keeps of one mailbox (known by its lookup hash): its current code, if one was issued and
    is not yet gone, sealed for as long as it lives so that it can be sent again, and when code emails went to
    it (`sent_at`, the last day's); `version` counts its changes, each a conditional write on the one before."""

    code: IssuedCode | None = None
    sent_at: tuple[dt.datetime, ...] = ()
    version: int = 0

    def live_code(self, now: dt.datetime) -> IssuedCode | None:
        return self.code if self.code is not None and now < self.code.expires_at else None

    def sent_today(self, now: dt.datetime) -> list[dt.datetime]:
        return sorted(moment for moment in self.sent_at if now - moment < DAY)


class Verdict(Enum):
    VERIFIED = "verified"
    WRONG = "wrong"  # 400
    LOCKED = "locked"  # 429 until a new code is sent, right or wrong
    EXPIRED = "expired"  # the code's life is over: 400, ask for a new one


def judge(tries: int, matches: bool, expires_at: dt.datetime, now: dt.datetime, policy: CodePolicy) -> Verdict:
    """What a try means, once it has been counted: `tries` is this code's count including this try. Counting
    first, in one conditional write, is what makes the limit hold against concurrent guesses: each of them has a
    number of its own, and only the first `max_wrong_tries` are compared at all."""
    if now >= expires_at:
        return Verdict.EXPIRED if matches else Verdict.WRONG
    if tries > policy.max_wrong_tries:
        return Verdict.LOCKED
    return Verdict.VERIFIED if matches else Verdict.WRONG


def seconds_until_resend(
    last_sent_at: dt.datetime, resent_at: list[dt.datetime], now: dt.datetime, policy: CodePolicy
) -> int:
    """0 when a new code may be sent now; otherwise how long to wait (once a minute, so many a day)."""
    waits = [0.0, _window_wait(resent_at, now, DAY, policy.resends_per_day)]
    since_last = now - last_sent_at
    if since_last < policy.resend_interval:
        waits.append((policy.resend_interval - since_last).total_seconds())
    return int(max(waits) + 0.999)


def seconds_until_mailbox_code(mailbox: Mailbox, now: dt.datetime, policy: CodePolicy) -> int:
    """0 when the mailbox may be sent another code email now; otherwise how long until it may (so many an hour and
    so many a day, whichever registration or resend asks)."""
    sent = mailbox.sent_today(now)
    waits = [
        _window_wait(sent, now, HOUR, policy.mailbox_codes_per_hour),
        _window_wait(sent, now, DAY, policy.mailbox_codes_per_day),
    ]
    return int(max(waits) + 0.999)


def _window_wait(moments: list[dt.datetime], now: dt.datetime, window: dt.timedelta, allowed: int) -> float:
    """Seconds until fewer than `allowed` of `moments` fall within the last `window`."""
    recent = sorted(moment for moment in moments if now - moment < window)
    if len(recent) < allowed:
        return 0.0
    return (recent[len(recent) - allowed] + window - now).total_seconds()


# A code whose email was refused for the moment (SES throttling) comes back soon, sooner than any other message:
# after 5 s, then twice as long each time, at most two minutes.
_FIRST_REDELIVERY_SECONDS = 5
_LONGEST_REDELIVERY_SECONDS = 120


def redelivery_delay(receive_count: int) -> int:
    """Seconds until a code message that could not be sent is tried again, by how often it was received."""
    return int(min(_FIRST_REDELIVERY_SECONDS * 2 ** max(receive_count - 1, 0), _LONGEST_REDELIVERY_SECONDS))
