"""EventBridge, locally: fires the app's schedules (moto stores rules but never fires them) on a clock that can
be moved forward by hand or run faster than real time, so a week of waves plays out in seconds.

The schedules are read from the Chalice app (the same list `chalice package` turns into EventBridge rules). Each
firing calls the handler in this process with a Scheduled Event whose `time` is the simulated moment, which the
handlers take as "now". Control over HTTP on loopback:

    GET  /clock                      -> {"now": ...}
    POST /advance {"to": ISO time}   -> fires, in time order, every firing up to that moment
    POST /jump {"to": ISO time}      -> moves the clock there firing nothing on the way (the schedules catch up
                                        at their next firing), so a run skips the days where nothing falls due

Each move is programme time for the whole stack (devstack.programme_clock): written before each firing and at the
end of a move, so the API and the consumers see the moment the handlers were fired for.

Run as `python -m devstack.scheduler --port PORT [--speed N] [--tick-on-start]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalice.app import ScheduledEventConfig
from croniter import croniter

from devstack import faults, metering, programme_clock
from devstack.processes import JsonHandler
from devstack.programme_clock import ProgrammeClock
from functions.observability import logger
from functions.settings import settings

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: str  # EventBridge's: cron(m h dom mon dow year) or rate(n unit)
    handler_string: str

    def firings(self, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
        """Every firing in (after, until], in UTC."""
        rate = _RATE.fullmatch(self.expression)
        if rate:
            unit = rate.group(2).rstrip("s")
            period = dt.timedelta(**{f"{unit}s": int(rate.group(1))})
            epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            moment = epoch + ((after - epoch) // period + 1) * period  # aligned, as if created at the epoch
            found = []
            while moment <= until:
                found.append(moment)
                moment += period
            return found
        minute, hour, day, month, weekday, _year = self.expression[len("cron(") : -1].split()
        cron = croniter(" ".join(f.replace("?", "*") for f in (minute, hour, day, month, weekday)), after)
        found = []
        while (moment := cron.get_next(dt.datetime)) <= until:
            found.append(moment)
        return found


def app_schedules() -> list[Schedule]:
    from functions.app import app

    schedules = []
    for source in app.event_sources:
        if isinstance(source, ScheduledEventConfig):
            expression = source.schedule_expression
            text = expression if isinstance(expression, str) else expression.to_string()
            schedules.append(Schedule(source.name, text, source.handler_string))
    return schedules


def scheduled_event(schedule: Schedule, moment: dt.datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": settings().region,
        "resources": [f"arn:aws:events:{settings().region}:000000000000:rule/{schedule.name}"],
        "detail": {},
    }


class Clock:
    def __init__(self, start: dt.datetime, schedules: list[Schedule], programme: ProgrammeClock | None = None) -> None:
        self.now = start
        self.schedules = schedules
        self.programme = programme
        self.lock = threading.Lock()

    def _move(self, to: dt.datetime) -> None:
        if self.programme is not None:
            self.programme.move_to(to)

    def advance(self, to: dt.datetime) -> list[dict[str, Any]]:
        with self.lock:
            if to <= self.now:
                return []
            due = sorted(
                ((moment, schedule) for schedule in self.schedules for moment in schedule.firings(self.now, to)),
                key=lambda pair: pair[0],
            )
            fired = [self._fire(schedule, moment) for moment, schedule in due]
            self.now = to
            self._move(to)
            return fired

    def jump(self, to: dt.datetime) -> None:
        with self.lock:
            self.now = max(self.now, to)
            self._move(self.now)

    def tick(self) -> dict[str, Any]:
        """Fires once at the current moment, as a new deployment's first tick (every schedule does what is due)."""
        with self.lock:
            return self._fire(self.schedules[0], self.now)

    def _fire(self, schedule: Schedule, moment: dt.datetime) -> dict[str, Any]:
        module_name, _, attribute = schedule.handler_string.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
        self._move(moment)
        try:
            with metering.invocation(schedule.name):
                result = handler(scheduled_event(schedule, moment), None)
        except Exception as error:
            logger.exception("schedule failed", extra={"schedule": schedule.name})
            result = {"error": type(error).__name__}
        return {"schedule": schedule.name, "time": moment.isoformat(), "result": result}


def handler_for(clock: Clock) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def on_get(self) -> None:
            self.answer(200, {"now": clock.now.isoformat()})

        def on_post(self, body: dict[str, Any]) -> None:
            if self.path == "/advance":
                to = dt.datetime.fromisoformat(body["to"])
                self.answer(200, {"fired": clock.advance(to), "now": clock.now.isoformat()})
            elif self.path == "/jump":
                clock.jump(dt.datetime.fromisoformat(body["to"]))
                self.answer(200, {"now": clock.now.isoformat()})
            elif self.path == "/tick":
                self.answer(200, {"fired": [clock.tick()], "now": clock.now.isoformat()})
            else:
                self.no_such_path()

    return Handler


def _run_faster(clock: Clock, speed: float) -> None:
    """Moves the clock `speed` times faster than real time, firing as it goes."""
    while True:
        time.sleep(1.0)
        clock.advance(clock.now + dt.timedelta(seconds=speed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--speed", type=float, default=0.0, help="simulated seconds per real second (0: by hand)")
    parser.add_argument("--tick-on-start", action="store_true", help="fire once at start, as a new deployment does")
    args = parser.parse_args()
    faults.install()
    metering.install()
    programme = programme_clock.install()
    start = programme.now() if programme else dt.datetime.now(dt.UTC)  # a restarted scheduler goes on from there
    clock = Clock(start.replace(microsecond=0), app_schedules(), programme)
    if args.tick_on_start:
        clock.tick()
    if args.speed > 0:
        threading.Thread(target=_run_faster, args=(clock, args.speed), daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(clock))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
