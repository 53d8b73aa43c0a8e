"""A local civil registry: a small real HTTP service answering NIK look-ups from `PRAKERJA_REGISTRY_CSV`.

It speaks the registry client's protocol (`POST /v1/nik-lookups {"nik": ...}` → 200 with the person, or 404),
reloads the CSV when the file changes, and can be made slow, erroring, hanging or down through `POST /_control`
so tests can play a registry outage (`devstack.stand_in`). `GET /_stats` reports requests and the most ever in
flight at once. It never logs a request: the bodies are NIKs.

Run as `python -m devstack.registry --port PORT --csv PATH`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from devstack.stand_in import CsvColumns, CsvRecords, StandIn, StandInHandler, StandInServer, serve_from_command_line

COLUMNS = CsvColumns(
    (
        "nik",
        "kk_number",
        "full_name",
        "birth_date",
        "gender",
        "occupation",
        "student",
        "past_recipient",
        "social_aid",
    ),
    booleans=frozenset({"student", "past_recipient", "social_aid"}),
)


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Writes registry rows (dicts with COLUMNS; booleans as true/false), atomically."""
    COLUMNS.write(path, rows)


class Registry(StandIn):
    def __init__(self, csv_path: Path) -> None:
        super().__init__()
        self.csv_path = csv_path
        self.people = CsvRecords(csv_path, COLUMNS, key=lambda row: str(row["nik"]))

    def person(self, nik: str) -> dict[str, Any] | None:
        with self.lock:
            return self.people.get(nik)


def handler_for(registry: Registry) -> type[StandInHandler]:
    class Handler(StandInHandler):
        stand_in = registry

        def on_post(self, body: dict[str, Any]) -> None:
            if self.path == "/v1/nik-lookups":
                self._lookup(body)
            else:
                super().on_post(body)

        def _lookup(self, body: dict[str, Any]) -> None:
            with registry.serving() as mode:
                if self.faulted(mode):
                    return
                person = registry.person(str(body.get("nik", "")))
                if person is None:
                    self.answer(404, {"found": False})
                else:
                    self.answer(200, person)

    return Handler


class RegistryServer(StandInServer[Registry]):
    @property
    def registry(self) -> Registry:
        return self.stand_in


def serve(port: int, csv_path: Path) -> RegistryServer:
    return RegistryServer(port, Registry(csv_path), handler_for)


def main() -> None:
    serve_from_command_line(serve, __doc__)


if __name__ == "__main__":
    main()
