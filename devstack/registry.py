"""A local civil registry: a small real HTTP service answering NIK look-ups from `PRAKERJA_REGISTRY_CSV`.

It speaks the registry client's protocol (`POST /v1/nik-lookups {"nik": ...}` → 200 with the person, or 404),
reloads the CSV when the file changes, and can be made slow, erroring, hanging or down through `POST /_control`
so tests can play a registry outage. `GET /_stats` reports requests and the most ever in flight at once.
It never logs a request: the bodies are NIKs.

Run as `python -m devstack.registry --port PORT --csv PATH`.
"""

from __future__ import annotations

import argparse
import csv
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devstack.processes import JsonHandler

COLUMNS = [
    "nik",
    "kk_number",
    "full_name",
    "birth_date",
    "gender",
    "occupation",
    "student",
    "past_recipient",
    "social_aid",
]
BOOLEAN_COLUMNS = {"student", "past_recipient", "social_aid"}
MODES = {"up", "down", "error", "hang"}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Writes registry rows (dicts with COLUMNS; booleans as true/false), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (str(v).lower() if k in BOOLEAN_COLUMNS else v) for k, v in row.items()})
    os.replace(partial, path)


class Registry:
    def __init__(self, csv_path: Path) -> None:
        self.csv_path = csv_path
        self.lock = threading.Lock()
        self.people: dict[str, dict[str, Any]] = {}
        self.loaded_mtime = -1.0
        self.mode = "up"
        self.latency_seconds = 0.0
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def person(self, nik: str) -> dict[str, Any] | None:
        with self.lock:
            self._reload_if_changed()
            return self.people.get(nik)

    def _reload_if_changed(self) -> None:
        try:
            mtime = self.csv_path.stat().st_mtime
        except FileNotFoundError:
            self.people = {}
            return
        if mtime == self.loaded_mtime:
            return
        with self.csv_path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        self.people = {
            row["nik"]: {k: (row[k].strip().lower() == "true" if k in BOOLEAN_COLUMNS else row[k]) for k in COLUMNS}
            for row in rows
        }
        self.loaded_mtime = mtime

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "mode": self.mode,
                "latency_ms": int(self.latency_seconds * 1000),
            }


def handler_for(registry: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        # The headers and the body go out in two writes: with Nagle on, a keep-alive client's delayed ACK holds
        # the body back about 40 ms on every look-up (a registry set to 50 ms answered in 90).
        disable_nagle_algorithm = True

        def on_get(self) -> None:
            if self.path == "/_stats":
                self.answer(200, registry.stats())
            else:
                self.no_such_path()

        def on_post(self, body: dict[str, Any]) -> None:
            if self.path == "/_control":
                self._control(body)
            elif self.path == "/v1/nik-lookups":
                self._lookup(body)
            else:
                self.no_such_path()

        def _control(self, body: dict[str, Any]) -> None:
            with registry.lock:
                if body.get("mode") in MODES:
                    registry.mode = body["mode"]
                if "latency_ms" in body:
                    registry.latency_seconds = float(body["latency_ms"]) / 1000
                if body.get("reset_stats"):
                    registry.requests = registry.max_in_flight = 0
            self.answer(200, registry.stats())

        def _lookup(self, body: dict[str, Any]) -> None:
            with registry.lock:
                registry.requests += 1
                registry.in_flight += 1
                registry.max_in_flight = max(registry.max_in_flight, registry.in_flight)
                mode, latency = registry.mode, registry.latency_seconds
            try:
                time.sleep(latency)
                if mode == "down":
                    self.close_connection = True
                    self.connection.shutdown(2)  # as a crashed service: no answer at all
                    return
                if mode == "hang":
                    time.sleep(30)
                if mode in ("error", "hang"):
                    self.answer(503, {"error": "registry unavailable"})
                    return
                person = registry.person(str(body.get("nik", "")))
                if person is None:
                    self.answer(404, {"found": False})
                else:
                    self.answer(200, person)
            finally:
                with registry.lock:
                    registry.in_flight -= 1

    return Handler


class RegistryServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, registry: Registry) -> None:
        super().__init__(("127.0.0.1", port), handler_for(registry))
        self.registry = registry


def serve(port: int, csv_path: Path) -> RegistryServer:
    return RegistryServer(port, Registry(csv_path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--csv", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.csv).serve_forever()


if __name__ == "__main__":
    main()
