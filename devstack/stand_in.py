"""What the local stand-ins for outside services (the civil registry, the payment provider) share: records read from
a CSV file again whenever it changes, faults switched at run time, and their counts.

Each is a real HTTP service on loopback. `POST /_control` takes `{"mode": ..., "latency_ms": ..., "slow_ms": ...,
"hang_ms": ..., "reset_stats": true}` and answers the stats; `GET /_stats` reports the requests served, how many
are in flight and the most ever at once. The modes every stand-in has:

- `up`: answers after `latency_ms`;
- `slow`: answers after `latency_ms` + `slow_ms`;
- `down`: drops the connection unanswered, as a crashed service would;
- `error`: 503;
- `hang`: holds the request `hang_ms` (longer than any client waits), then 503.

A stand-in never logs a request: the bodies are NIKs, names and account numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from devstack.processes import LOOPBACK, JsonHandler

Key = TypeVar("Key")
Served = TypeVar("Served", bound="StandIn")


@dataclass(frozen=True)
class CsvColumns:
    names: tuple[str, ...]
    booleans: frozenset[str] = frozenset()  # written and read as true/false

    def write(self, path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
        """Writes rows (dicts with these columns), atomically, so a stand-in never reads half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.names)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: (str(v).lower() if k in self.booleans else v) for k, v in row.items()})
        os.replace(partial, path)

    def parse(self, row: Mapping[str, str]) -> dict[str, Any]:
        return {k: (row[k].strip().lower() == "true" if k in self.booleans else row[k]) for k in self.names}


class CsvRecords(Generic[Key]):
    """The rows of a CSV file by key, read again when the file changes (the stack and the tests rewrite it while
    the service runs); no file, no rows. The caller holds its stand-in's lock."""

    def __init__(self, path: Path, columns: CsvColumns, key: Callable[[dict[str, Any]], Key]) -> None:
        self.path = path
        self.columns = columns
        self.key = key
        self.rows: dict[Key, dict[str, Any]] = {}
        self.loaded_mtime = -1.0

    def get(self, key: Key) -> dict[str, Any] | None:
        self._reload_if_changed()
        return self.rows.get(key)

    def _reload_if_changed(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self.rows = {}
            return
        if mtime == self.loaded_mtime:
            return
        with self.path.open(newline="", encoding="utf-8") as handle:
            parsed = [self.columns.parse(row) for row in csv.DictReader(handle)]
        self.rows = {self.key(row): row for row in parsed}
        self.loaded_mtime = mtime


class StandIn:
    """A stand-in's mode and counts, under one lock."""

    modes: ClassVar[frozenset[str]] = frozenset({"up", "slow", "down", "error", "hang"})

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mode = "up"
        self.latency_seconds = 0.0
        self.slow_seconds = 1.0
        self.hang_seconds = 30.0
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "mode": self.mode,
                "latency_ms": int(self.latency_seconds * 1000),
            }

    def control(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            if body.get("mode") in self.modes:
                self.mode = body["mode"]
            if "latency_ms" in body:
                self.latency_seconds = float(body["latency_ms"]) / 1000
            if "slow_ms" in body:
                self.slow_seconds = float(body["slow_ms"]) / 1000
            if "hang_ms" in body:
                self.hang_seconds = float(body["hang_ms"]) / 1000
            if body.get("reset_stats"):
                self.requests = self.max_in_flight = 0
        return self.stats()

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        """Counts one request in flight while it is served, after its latency; gives the mode it is served in."""
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            mode = self.mode
            latency = self.latency_seconds + (self.slow_seconds if mode == "slow" else 0.0)
        try:
            time.sleep(latency)
            yield mode
        finally:
            with self.lock:
                self.in_flight -= 1


class StandInHandler(JsonHandler):
    """`/_stats` and `/_control`; a stand-in's own paths come first in its subclass's `on_get` / `on_post`, which
    hand any other path here."""

    stand_in: ClassVar[StandIn]
    # The headers and the body go out in two writes: with Nagle on, a keep-alive client's delayed ACK holds the
    # body back about 40 ms on every call (a registry set to 50 ms answered in 90).
    disable_nagle_algorithm = True

    def on_get(self) -> None:
        if self.path == "/_stats":
            self.answer(200, self.stand_in.stats())
        else:
            self.no_such_path()

    def on_post(self, body: dict[str, Any]) -> None:
        if self.path == "/_control":
            self.answer(200, self.stand_in.control(body))
        else:
            self.no_such_path()

    def faulted(self, mode: str) -> bool:
        """Plays the mode's fault, if it has one; True when it did (and the request is done with)."""
        if mode == "down":
            self.drop()
            return True
        if mode == "hang":
            time.sleep(self.stand_in.hang_seconds)
        if mode in ("error", "hang"):
            self.answer(503, {"error": "unavailable"})
            return True
        return False

    def drop(self) -> None:
        """No answer at all, as a crashed service gives."""
        self.close_connection = True
        self.connection.shutdown(2)


class StandInServer(ThreadingHTTPServer, Generic[Served]):
    """Serves `stand_in` on loopback with the handler `handler_for` makes for it."""

    daemon_threads = True

    def __init__(
        self, port: int, stand_in: Served, handler_for: Callable[[Served], type[BaseHTTPRequestHandler]]
    ) -> None:
        super().__init__((LOOPBACK, port), handler_for(stand_in))
        self.stand_in = stand_in


def serve_from_command_line(serve: Callable[[int, Path], ThreadingHTTPServer], description: str | None) -> None:
    """`python -m devstack.<stand-in> --port PORT --csv PATH`: serves until stopped."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--csv", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.csv).serve_forever()
