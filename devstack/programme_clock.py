"""The local stack's one programme time: the scheduler's clock, seen by every process that runs app code.

The scheduler moves its clock by days and months; the gateway and the pollers run on the real clock. So that a
course's minimum hours, a code's life and a token's 30 days pass for them too, the scheduler writes how far its
clock is ahead of real time to a small file in the stack's work folder whenever it moves, and each app process
(gateway, pollers, scheduler) reads `functions.clock.now` as real time plus that offset, read again when the file
changes. Programme time never goes back: a move to a moment already passed leaves the offset as it is.

Installed at process start, as `devstack.faults` is, only where DEVSTACK_CLOCK_FILE names the file; the partner
clients and the jobs read the same file to sign and date what they send.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path

from functions import clock

CLOCK_FILE = "DEVSTACK_CLOCK_FILE"


class ProgrammeClock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None  # the file's (inode, mtime) when last read
        self._offset = dt.timedelta(0)
        self._lock = threading.Lock()

    def offset(self) -> dt.timedelta:
        """How far programme time is ahead of real time (none before the scheduler first writes)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return dt.timedelta(0)
        seen = (stat.st_ino, stat.st_mtime_ns)
        with self._lock:
            if seen != self._seen:
                self._offset = dt.timedelta(seconds=json.loads(self.path.read_text())["offset_seconds"])
                self._seen = seen
            return self._offset

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset()

    def move_to(self, moment: dt.datetime) -> None:
        """Programme time at `moment` from now on, unless it is already past it. Written whole (a temporary file
        renamed), so a reader never sees half of it."""
        offset = moment - dt.datetime.now(dt.UTC)
        if offset <= self.offset():
            return
        written = self.path.with_suffix(".tmp")
        written.write_text(json.dumps({"offset_seconds": offset.total_seconds()}))
        os.replace(written, self.path)


def from_environment() -> ProgrammeClock | None:
    path = os.environ.get(CLOCK_FILE)
    return ProgrammeClock(Path(path)) if path else None


def install() -> ProgrammeClock | None:
    """In a process that runs app code: `functions.clock.now` gives programme time (a no-op without the file)."""
    programme = from_environment()
    if programme is not None:
        clock.now = programme.now
    return programme
