"""The wave calendar: WIB against UTC, the next close and publish, EventBridge's UTC crons, what is due."""

from __future__ import annotations

import datetime as dt

from functions.domain.calendar import WaveCalendar, WeeklyMoment, wave_times
from functions.domain.wave import PoolReading, Step, WaveState, next_step

WIB = dt.timezone(dt.timedelta(hours=7))
CALENDAR = WaveCalendar.regulation_default()


def test_a_thursday_close_at_16_wib_is_09_utc() -> None:
    assert CALENDAR.close.cron_utc() == (0, 9, "THU")


def test_friday_10_wib_publish_is_03_utc_friday() -> None:
    assert CALENDAR.publish.cron_utc() == (0, 3, "FRI")


def test_an_early_morning_wib_time_falls_on_the_previous_utc_day() -> None:
    assert WeeklyMoment.parse("FRI 03:00").cron_utc() == (0, 20, "THU")


def test_a_wave_opened_on_saturday_closes_next_thursday_and_publishes_friday() -> None:
    # 11 April 2020 was a Saturday (the launch weekend)
    times = wave_times(dt.datetime(2020, 4, 11, 8, 0, tzinfo=WIB), CALENDAR)
    assert times.closes_at == dt.datetime(2020, 4, 16, 16, 0, tzinfo=WIB)
    assert times.publish_at == dt.datetime(2020, 4, 17, 10, 0, tzinfo=WIB)


def test_opening_exactly_at_a_close_runs_to_the_next_week() -> None:
    close = dt.datetime(2020, 4, 16, 16, 0, tzinfo=WIB)
    assert CALENDAR.closes_at(close) == close + dt.timedelta(days=7)
    assert CALENDAR.closes_at(close - dt.timedelta(seconds=1)) == close


def test_thursday_after_the_close_hour_waits_a_week() -> None:
    thursday_evening = dt.datetime(2020, 4, 16, 20, 0, tzinfo=WIB)
    assert CALENDAR.closes_at(thursday_evening) == dt.datetime(2020, 4, 23, 16, 0, tzinfo=WIB)


def test_what_is_due_follows_the_states() -> None:
    closes = dt.datetime(2020, 4, 16, 9, 0, tzinfo=dt.UTC)
    publishes = dt.datetime(2020, 4, 17, 3, 0, tzinfo=dt.UTC)
    before, between, after = closes - dt.timedelta(minutes=1), closes + dt.timedelta(hours=1), publishes
    assert next_step(WaveState.OPEN, closes, publishes, before) is Step.WAIT
    assert next_step(WaveState.OPEN, closes, publishes, between) is Step.CLOSE
    # A closed pool is read in parts first; the draw waits for the last one
    assert next_step(WaveState.CLOSED, closes, publishes, between, PoolReading.NOT_QUEUED) is Step.READ
    assert next_step(WaveState.CLOSED, closes, publishes, between, PoolReading.UNDER_WAY) is Step.WAIT
    assert next_step(WaveState.CLOSED, closes, publishes, between, PoolReading.DONE) is Step.DRAW
    assert next_step(WaveState.SELECTED, closes, publishes, between) is Step.WAIT
    assert next_step(WaveState.SELECTED, closes, publishes, after) is Step.PUBLISH
    assert next_step(WaveState.PUBLISHED, closes, publishes, after) is Step.WAIT


def test_missed_weeks_are_caught_up_in_order() -> None:
    # A wave still open three weeks after its close: closing is due first, then reading the pool, then the draw,
    # then publication
    closes = dt.datetime(2020, 4, 16, 9, 0, tzinfo=dt.UTC)
    publishes = dt.datetime(2020, 4, 17, 3, 0, tzinfo=dt.UTC)
    late = closes + dt.timedelta(weeks=3)
    assert next_step(WaveState.OPEN, closes, publishes, late) is Step.CLOSE
    assert next_step(WaveState.CLOSED, closes, publishes, late) is Step.READ
    assert next_step(WaveState.CLOSED, closes, publishes, late, PoolReading.DONE) is Step.DRAW
    assert next_step(WaveState.SELECTED, closes, publishes, late) is Step.PUBLISH
