"""Email verification codes: six digits from a CSPRNG, a day's life, five wrong tries, limited resends."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from enum import Enum

CODE_SHAPE = re.compile(r"[0-9]{6}")
DAY = dt.timedelta(days=1)


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


@dataclass(frozen=True)
class IssuedCode:
    """An email code as stored: its id, a keyed hash of it (never the code itself), and its life."""

    code_id: str
    code_hash: str
    issued_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class CodePolicy:
    ttl: dt.timedelta
    max_wrong_tries: int
    resend_interval: dt.timedelta
    resends_per_day: int


@dataclass(frozen=True)
class CodeState:
    expires_at: dt.datetime
    wrong_tries: int


class Verdict(Enum):
    VERIFIED = "verified"
    WRONG = "wrong"  # 400, one more wrong try counted
    LOCKS_NOW = "locks_now"  # the wrong try beyond the limit: 429, and the code is locked
    LOCKED = "locked"  # 429 until a new code is sent
    EXPIRED = "expired"  # the right code, too late: 400, ask for a new one


def is_locked(state: CodeState, policy: CodePolicy) -> bool:
    return state.wrong_tries > policy.max_wrong_tries


def judge(state: CodeState, matches: bool, now: dt.datetime, policy: CodePolicy) -> Verdict:
    """What a try means. The wrong tries that count are those within the code's life."""
    if is_locked(state, policy):
        return Verdict.LOCKED
    if matches:
        return Verdict.VERIFIED if now < state.expires_at else Verdict.EXPIRED
    if now >= state.expires_at:
        return Verdict.WRONG
    return Verdict.LOCKS_NOW if state.wrong_tries + 1 > policy.max_wrong_tries else Verdict.WRONG


def counts_as_wrong_try(verdict: Verdict, state: CodeState, now: dt.datetime) -> bool:
    return verdict in (Verdict.WRONG, Verdict.LOCKS_NOW) and now < state.expires_at


def seconds_until_resend(
    last_sent_at: dt.datetime, resent_at: list[dt.datetime], now: dt.datetime, policy: CodePolicy
) -> int:
    """0 when a new code may be sent now; otherwise how long to wait (once a minute, so many a day)."""
    waits = [0.0]
    since_last = now - last_sent_at
    if since_last < policy.resend_interval:
        waits.append((policy.resend_interval - since_last).total_seconds())
    today = sorted(t for t in resent_at if now - t < DAY)
    if len(today) >= policy.resends_per_day:
        waits.append((today[len(today) - policy.resends_per_day] + DAY - now).total_seconds())
    return int(max(waits) + 0.999)
