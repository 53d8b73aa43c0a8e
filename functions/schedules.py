"""When the schedules fire: EventBridge crons (UTC) and the moment an event says it fired.

The crons are fixed when Chalice packages the app, so they are derived from the calendar's one home,
`functions.domain.rules` (Thursday 16:00 WIB close, Friday 10:00 WIB publish, the daily runs), not from the settings
read at run time; a deployed function refuses a configured calendar that differs (functions/settings.py), and
tests/unit/test_settings.py ties these crons to the calendar the template's functions get. The handlers do whatever
is due, so a missed firing is caught up by the next.
"""

from __future__ import annotations

import datetime as dt

from chalice.app import CloudWatchEvent, Cron

from functions.domain import rules
from functions.domain.calendar import WaveCalendar, daily_cron_utc

PACKAGED_CALENDAR = WaveCalendar.regulation_default()


def _weekly(minute: int, hour: int, weekday: str) -> Cron:
    return Cron(minute, hour, "?", "*", weekday, "*")


def _daily(minute: int, hour: int) -> Cron:
    return Cron(minute, hour, "*", "*", "?", "*")


CLOSE_CRON = _weekly(*PACKAGED_CALENDAR.close.cron_utc())
PUBLISH_CRON = _weekly(*PACKAGED_CALENDAR.publish.cron_utc())
# The daily revocation (00:05 WIB); each run sweeps every wave due, so a missed day is caught up the next.
REVOCATION_CRON = _daily(*daily_cron_utc(rules.REVOCATION_TIME))
# The daily incentive schedule (09:00 WIB) pays whatever is due by then, so a missed day is caught up the next; the
# daily reconciliation (23:30 WIB) compares the day before with the provider's statement, and catches up a week.
INCENTIVE_CRON = _daily(*daily_cron_utc(rules.INCENTIVE_TIME))
RECONCILIATION_CRON = _daily(*daily_cron_utc(rules.RECONCILIATION_TIME))


def fired_at(event: CloudWatchEvent) -> dt.datetime:
    return dt.datetime.fromisoformat(event.time.replace("Z", "+00:00"))
