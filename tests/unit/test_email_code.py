"""Email codes with a frozen clock: expiry, wrong tries, the lock, resend limits."""

from __future__ import annotations

import datetime as dt

import pytest

from functions.domain.email_code import (
    CODE_SHAPE,
    CodePolicy,
    CodeState,
    Verdict,
    counts_as_wrong_try,
    judge,
    new_code,
    seconds_until_resend,
)

T0 = dt.datetime(2020, 4, 11, 3, 0, tzinfo=dt.UTC)
POLICY = CodePolicy(
    ttl=dt.timedelta(hours=24),
    max_wrong_tries=5,
    resend_interval=dt.timedelta(minutes=1),
    resends_per_day=5,
)
FRESH = CodeState(expires_at=T0 + POLICY.ttl, wrong_tries=0)


def test_codes_are_six_digits_and_vary() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(CODE_SHAPE.fullmatch(code) for code in codes)
    assert len(codes) > 190


def test_the_right_code_within_its_life_verifies() -> None:
    assert judge(FRESH, True, T0 + dt.timedelta(hours=23, minutes=59), POLICY) is Verdict.VERIFIED


def test_the_right_code_after_24_hours_has_expired() -> None:
    assert judge(FRESH, True, T0 + POLICY.ttl, POLICY) is Verdict.EXPIRED


def test_five_wrong_tries_are_400s_and_the_sixth_locks() -> None:
    verdicts = [judge(CodeState(FRESH.expires_at, tries), False, T0, POLICY) for tries in range(6)]
    assert verdicts == [Verdict.WRONG] * 5 + [Verdict.LOCKS_NOW]


def test_a_locked_code_stays_locked_even_when_right() -> None:
    locked = CodeState(FRESH.expires_at, wrong_tries=6)
    assert judge(locked, True, T0, POLICY) is Verdict.LOCKED
    assert judge(locked, False, T0, POLICY) is Verdict.LOCKED


def test_wrong_tries_after_expiry_do_not_count() -> None:
    late = T0 + POLICY.ttl + dt.timedelta(seconds=1)
    verdict = judge(CodeState(FRESH.expires_at, 5), False, late, POLICY)
    assert verdict is Verdict.WRONG
    assert not counts_as_wrong_try(verdict, FRESH, late)
    assert counts_as_wrong_try(Verdict.WRONG, FRESH, T0)


def test_a_resend_waits_a_minute_after_the_last_code() -> None:
    assert seconds_until_resend(T0, [], T0 + dt.timedelta(seconds=20), POLICY) == 40
    assert seconds_until_resend(T0, [], T0 + dt.timedelta(seconds=60), POLICY) == 0


def test_at_most_five_resends_a_day() -> None:
    resends = [T0 + dt.timedelta(minutes=m) for m in (1, 2, 3, 4, 5)]
    now = T0 + dt.timedelta(minutes=10)
    # the oldest of today's five leaves the window a day after it was sent
    assert seconds_until_resend(resends[-1], resends, now, POLICY) == pytest.approx(
        (resends[0] + dt.timedelta(days=1) - now).total_seconds(), abs=1
    )
    assert seconds_until_resend(resends[-1], resends, resends[0] + dt.timedelta(days=1), POLICY) == 0
    assert seconds_until_resend(resends[-1], resends[1:], now, POLICY) == 0
