"""The time, in one place, so tests can hold it still. The programme's calendar is Jakarta's (WIB, UTC+7)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

JAKARTA = ZoneInfo("Asia/Jakarta")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def today_in_jakarta() -> dt.date:
    return now().astimezone(JAKARTA).date()
