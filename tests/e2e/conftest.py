"""End-to-end tests: the embedded local stack, started once per session, driven over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.population import Person
from devstack.stack import EmbeddedStack


class Api:
    """A small HTTP client for the stack's gateway, remembering every person the tests sent."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.people_used: list[Person] = []

    def register(self, person: Person, **headers: str) -> requests.Response:
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


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    workdir: Path = tmp_path_factory.mktemp("stack")
    with EmbeddedStack(workdir, gateway_workers=3) as running:
        yield running


@pytest.fixture(scope="session")
def api(stack: EmbeddedStack) -> Api:
    return Api(stack.api_url)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `after_all_e2e` read what the whole e2e run left behind, so they run last."""
    items.sort(key=lambda item: item.get_closest_marker("after_all_e2e") is not None)
