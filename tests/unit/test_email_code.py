"""Email codes with a frozen clock: expiry, wrong tries, the lock, resend limits."""

from __future__ import annotations

import datetime as dt

import pytest

from functions.domain.email_code import CODE_SHAPE, CodePolicy, Verdict, judge, new_code, seconds_until_resend

T0 = dt.datetime(2020, 4, 11, 3, 0, tzinfo=dt.UTC)
POLICY = CodePolicy(
    ttl=dt.timedelta(hours=24),
    max_wrong_tries=5,
    resend_interval=dt.timedelta(minutes=1),
    resends_per_day=5,
)
EXPIRES = T0 + POLICY.ttl


def test_codes_are_six_digits_and_vary() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(CODE_SHAPE.fullmatch(code) for code in codes)
    assert len(codes) > 190


def test_the_right_code_within_its_life_verifies() -> None:
    assert judge(1, True, EXPIRES, T0 + dt.timedelta(hours=23, minutes=59), POLICY) is Verdict.VERIFIED


def test_the_right_code_after_24_hours_has_expired() -> None:
    assert judge(1, True, EXPIRES, T0 + POLICY.ttl, POLICY) is Verdict.EXPIRED


def test_five_tries_are_compared_and_the_sixth_is_locked() -> None:
    # Each try is counted before it is compared: `tries` is the count including this one.
    verdicts = [judge(tries, False, EXPIRES, T0, POLICY) for tries in range(1, 7)]
    assert verdicts == [Verdict.WRONG] * 5 + [Verdict.LOCKED]


def test_after_five_wrong_tries_even_the_right_code_is_locked() -> None:
    assert judge(6, True, EXPIRES, T0, POLICY) is Verdict.LOCKED
    assert judge(7, False, EXPIRES, T0, POLICY) is Verdict.LOCKED
    assert judge(5, True, EXPIRES, T0, POLICY) is Verdict.VERIFIED


def test_after_expiry_a_code_is_only_wrong_or_expired() -> None:
    late = EXPIRES + dt.timedelta(seconds=1)
    assert judge(0, False, EXPIRES, late, POLICY) is Verdict.WRONG
    assert judge(0, True, EXPIRES, late, POLICY) is Verdict.EXPIRED


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


def test_a_throttled_code_comes_back_after_5_s_doubling_to_at_most_two_minutes() -> None:
    from functions.domain.email_code import redelivery_delay

    assert [redelivery_delay(n) for n in range(1, 8)] == [5, 10, 20, 40, 80, 120, 120]
