"""The local stack's one programme time (devstack.programme_clock): the scheduler's moves, seen by every process."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from devstack import programme_clock
from devstack.programme_clock import ProgrammeClock
from devstack.scheduler import Clock, Schedule
from functions import clock

SEEN: list[dt.datetime] = []


def record_the_time(event: dict[str, object], context: object) -> None:
    """A scheduled handler that notes the time the app's code sees."""
    SEEN.append(clock.now())


def close_to(moment: dt.datetime, expected: dt.datetime) -> bool:
    return abs((moment - expected).total_seconds()) < 5


def test_before_any_move_programme_time_is_real_time(tmp_path: Path) -> None:
    assert close_to(ProgrammeClock(tmp_path / "clock.json").now(), dt.datetime.now(dt.UTC))


def test_a_move_is_seen_by_another_reader_of_the_file_and_runs_on_from_there(tmp_path: Path) -> None:
    scheduler, gateway = ProgrammeClock(tmp_path / "clock.json"), ProgrammeClock(tmp_path / "clock.json")
    gateway.now()  # read once before the move: the move is still seen
    in_a_month = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)

    scheduler.move_to(in_a_month)

    assert close_to(gateway.now(), in_a_month)
    assert gateway.now() >= in_a_month


def test_programme_time_never_goes_back(tmp_path: Path) -> None:
    programme = ProgrammeClock(tmp_path / "clock.json")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    programme.move_to(later)

    programme.move_to(later - dt.timedelta(days=1))

    assert programme.now() >= later


def test_installed_the_apps_clock_and_calendar_read_programme_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clock.json"
    monkeypatch.setenv(programme_clock.CLOCK_FILE, str(path))
    monkeypatch.setattr(clock, "now", clock.now)  # put back after the test
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(days=45)
    ProgrammeClock(path).move_to(ahead)

    programme_clock.install()

    assert close_to(clock.now(), ahead)
    assert clock.today_in_jakarta() == clock.now().astimezone(clock.JAKARTA).date()


def test_without_the_file_setting_nothing_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(programme_clock.CLOCK_FILE, raising=False)
    real = clock.now

    assert programme_clock.install() is None
    assert clock.now is real


def test_the_scheduler_moves_programme_time_to_each_firing_before_its_handler_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    programme = ProgrammeClock(tmp_path / "clock.json")
    monkeypatch.setattr(clock, "now", programme.now)
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hourly = Schedule("hourly", "rate(1 hour)", f"{__name__}.record_the_time")
    scheduler = Clock(start, [hourly], programme)
    SEEN.clear()

    scheduler.advance(start + dt.timedelta(days=3, minutes=30))

    firings = hourly.firings(start, start + dt.timedelta(days=3, minutes=30))
    assert len(SEEN) == len(firings) == 72
    assert all(close_to(seen, fired) for seen, fired in zip(SEEN, firings, strict=True))
    assert close_to(programme.now(), start + dt.timedelta(days=3, minutes=30))
