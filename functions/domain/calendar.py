"""The weekly wave (gelombang) calendar: a wave closes on Thursday 16:00 WIB and publishes on Friday 10:00 WIB
(`functions.domain.rules`), and the next opens the moment one closes. Times are kept in UTC; the calendar is
Jakarta's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from functions.domain import rules

JAKARTA = ZoneInfo("Asia/Jakarta")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass(frozen=True)
class WeeklyMoment:
    """A weekday and a wall-clock time in Jakarta, e.g. Thursday 16:00 WIB."""

    weekday: int  # Monday = 0
    time: dt.time

    @classmethod
    def parse(cls, text: str) -> WeeklyMoment:
        """'THU 16:00' -> Thursday 16:00 WIB; ValueError for anything else."""
        day, _, clock = text.strip().upper().partition(" ")
        hour, _, minute = clock.strip().partition(":")
        try:
            return cls(WEEKDAYS.index(day), dt.time(int(hour), int(minute or 0)))
        except ValueError:
            raise ValueError(f"{text!r} is not a weekday and a WIB time like 'THU 16:00'") from None

    def __str__(self) -> str:
        """The form `parse` reads: 'THU 16:00'."""
        return f"{WEEKDAYS[self.weekday]} {self.time:%H:%M}"

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first such moment strictly after `moment`, in UTC."""
        local = moment.astimezone(JAKARTA)
        candidate = dt.datetime.combine(local.date(), self.time, tzinfo=JAKARTA)
        candidate += dt.timedelta(days=(self.weekday - local.weekday()) % 7)
        if candidate <= local:
            candidate += dt.timedelta(days=7)
        return candidate.astimezone(dt.UTC)

    def cron_utc(self) -> tuple[int, int, str]:
        """(minute, hour, weekday) of this moment in UTC, for EventBridge, whose crons are UTC."""
        reference = dt.datetime.combine(
            dt.date(2024, 1, 1) + dt.timedelta(days=self.weekday), self.time, tzinfo=JAKARTA
        )
        utc = reference.astimezone(dt.UTC)
        return utc.minute, utc.hour, WEEKDAYS[utc.weekday()]


@dataclass(frozen=True)
class WaveCalendar:
    close: WeeklyMoment
    publish: WeeklyMoment

    @classmethod
    def parse(cls, close: str, publish: str) -> WaveCalendar:
        """('THU 16:00', 'FRI 10:00') -> the calendar; ValueError for a weekday or time that is not one."""
        return cls(WeeklyMoment.parse(close), WeeklyMoment.parse(publish))

    @classmethod
    def regulation_default(cls) -> WaveCalendar:
        """2020's calendar (`rules.WAVE_CLOSE`, `rules.WAVE_PUBLISH`), the one the schedules are packaged with."""
        return cls.parse(rules.WAVE_CLOSE, rules.WAVE_PUBLISH)

    def closes_at(self, opens_at: dt.datetime) -> dt.datetime:
        return self.close.next_after(opens_at)

    def publishes_at(self, closes_at: dt.datetime) -> dt.datetime:
        return self.publish.next_after(closes_at)


@dataclass(frozen=True)
class WaveTimes:
    opens_at: dt.datetime
    closes_at: dt.datetime
    publish_at: dt.datetime


def wave_times(opens_at: dt.datetime, calendar: WaveCalendar) -> WaveTimes:
    closes_at = calendar.closes_at(opens_at)
    return WaveTimes(opens_at, closes_at, calendar.publishes_at(closes_at))


def daily_cron_utc(wib_time: str) -> tuple[int, int]:
    """(minute, hour) in UTC of a daily Jakarta time 'HH:MM', for EventBridge, whose crons are UTC: '00:05' ->
    (5, 17), the evening before in UTC. ValueError for anything that is not such a time."""
    try:
        local = dt.time.fromisoformat(wib_time.strip())
    except ValueError:
        raise ValueError(f"{wib_time!r} is not a WIB time like '00:05'") from None
    utc = dt.datetime.combine(dt.date(2024, 1, 1), local, tzinfo=JAKARTA).astimezone(dt.UTC)
    return utc.minute, utc.hour
