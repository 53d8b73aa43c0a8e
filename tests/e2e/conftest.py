"""End-to-end tests: the embedded local stack, started once per session, driven over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.crowd import post_as_app
from devstack.population import Person
from devstack.registry import write_csv
from devstack.stack import EmbeddedStack


class Api:
    """A small HTTP client for the stack's gateway, remembering every person the tests sent."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.stack = stack
        self.base_url = stack.api_url
        self.http = requests.Session()
        self.people_used: list[Person] = []
        self.registry_rows: dict[str, dict[str, Any]] = {}

    def add_to_registry(self, rows: list[dict[str, Any]]) -> None:
        """Adds people to the local civil registry's CSV (the tests share one registry)."""
        self.registry_rows.update({row["nik"]: row for row in rows})
        write_csv(self.stack.registry_csv, list(self.registry_rows.values()))

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.post(f"{self.base_url}{path}", json=body, headers=headers, timeout=30)

    def email_code(self, applicant_id: str, timeout_seconds: float = 60) -> str:
        """The newest email code the outbox holds for this applicant, waiting for it to arrive."""
        return self.stack.outbox_reader.wait_for_code(applicant_id, timeout_seconds)

    def register(self, person: Person, **headers: str) -> requests.Response:
        """Registers as an applicant's app does: a 429 (busy) is tried again after its Retry-After."""
        self.people_used.append(person)
        return post_as_app(self.http, f"{self.base_url}/registrations", person.registration(), headers, timeout=30)

    def register_once(self, person: Person, **headers: str) -> requests.Response:
        self.people_used.append(person)
        return self.http.post(f"{self.base_url}/registrations", json=person.registration(), headers=headers, timeout=30)

    def applicant(self, applicant_id: str, token: str) -> requests.Response:
        return self.http.get(
            f"{self.base_url}/applicants/{applicant_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def wait_for_status(
        self, applicant_id: str, token: str, wanted: set[str], timeout_seconds: float = 120
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_seconds
        while True:
            seen: dict[str, Any] = self.applicant(applicant_id, token).json()
            if seen.get("status") in wanted or time.monotonic() > deadline:
                return seen
            time.sleep(0.2)


def stack_of_small_waves(tmp_path_factory: pytest.TempPathFactory, name: str, quota: int) -> Iterator[EmbeddedStack]:
    """A local stack of a module's own whose waves take `quota` each, published in chunks of four."""
    settings = {"PRAKERJA_WAVE_QUOTA": str(quota), "PRAKERJA_PUBLISH_CHUNK_SIZE": "4"}
    with EmbeddedStack(tmp_path_factory.mktemp(name), gateway_workers=3, settings=settings) as running:
        yield running


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    workdir: Path = tmp_path_factory.mktemp("stack")
    with EmbeddedStack(workdir, gateway_workers=3) as running:
        yield running


@pytest.fixture(scope="session")
def api(stack: EmbeddedStack) -> Api:
    return Api(stack)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_all_e2e` read what the whole e2e run left behind, so they run last."""
    items.sort(key=lambda item: item.get_closest_marker("after_all_e2e") is not None)
