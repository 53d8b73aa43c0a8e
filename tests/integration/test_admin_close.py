"""`POST /admin/waves/{number}/close` deployed: the API hands the close to the closing function (the only one
whose role may open a draw seed) and answers with what it did, exactly as when the close ran in the API; the
pool-part workers read the closed pool, and the last of them starts the closing function, which draws."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from functions.adapters import draw_seeds, invoke
from functions.app import app
from functions.select import close_due_waves
from functions.services import admin
from functions.store import waves as wave_store
from tests.helpers import FakeLambdaContext, reset_app_state
from tests.integration.conftest import open_first_wave, run_consumers

CLOSE_FUNCTION = "prakerja-close-due-waves"


class FakeLambda:
    """Lambda's invocations of the closing function: JSON in, the real handler, JSON out (RequestResponse), or
    nothing back (Event). Draw seeds can be opened only while it runs, as only that function's role may decrypt
    them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.in_closing_function = False

    def _run(self, payload: dict[str, Any]) -> Any:
        self.in_closing_function = True
        try:
            return close_due_waves(json.loads(json.dumps(payload)), FakeLambdaContext())
        finally:
            self.in_closing_function = False

    def call(self, function_name: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((function_name, payload))
        result: dict[str, Any] = json.loads(json.dumps(self._run(payload)))
        return result

    def start(self, function_name: str, payload: dict[str, Any]) -> None:
        self.started.append((function_name, payload))
        self._run(payload)


@pytest.fixture
def deployed(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, FakeLambda]]:
    monkeypatch.setenv("PRAKERJA_CLOSE_FUNCTION", CLOSE_FUNCTION)
    reset_app_state()
    fake = FakeLambda()
    monkeypatch.setattr(invoke, "call", fake.call)
    monkeypatch.setattr(invoke, "start", fake.start)
    reveal = draw_seeds.reveal

    def reveal_only_in_the_closing_function(wave: int, sealed: bytes) -> bytes:
        assert fake.in_closing_function, "a draw seed was opened outside the closing function"
        return reveal(wave, sealed)

    monkeypatch.setattr(draw_seeds, "reveal", reveal_only_in_the_closing_function)
    open_first_wave()
    with Client(app) as client:
        yield client, fake


def test_an_admin_close_runs_in_the_closing_function_with_the_same_answers(deployed: tuple[Any, FakeLambda]) -> None:
    client, fake = deployed
    headers = {"Authorization": f"Bearer {admin.mint('ops@kemnaker.go.id', 1)}", "Content-Type": "application/json"}
    opened = client.http.get("/waves/current").json_body
    # Before its closes_at the wave closes only with force; the refusal comes back from the closing function.
    not_due = client.http.post("/admin/waves/1/close", headers=headers)
    assert (not_due.status_code, not_due.json_body["error"]["code"]) == (409, "WAVE_NOT_DUE")
    assert fake.calls[0][1]["detail"] == {"wave": 1}
    forced = json.dumps({"force": True, "reason": "drill"})
    closed = client.http.post("/admin/waves/1/close", headers=headers, body=forced)
    assert closed.status_code == 200
    assert closed.json_body == {**opened, "state": "CLOSED"}
    (function_name, payload) = fake.calls[1]
    assert function_name == CLOSE_FUNCTION
    assert (payload["source"], payload["detail-type"], payload["detail"]) == (
        "prakerja.admin",
        "Close wave",
        {"wave": 1, "force": True, "reason": "drill", "admin": "ops@kemnaker.go.id"},
    )
    early = wave_store.find(1).early_close  # type: ignore[union-attr]
    assert early is not None and (early.by, early.reason) == ("ops@kemnaker.go.id", "drill")
    # The workers read the pool without the seed; the last one starts the closing function, which draws.
    assert fake.started == []
    run_consumers("pool_part_consumer")
    (started,) = fake.started
    assert started[0] == CLOSE_FUNCTION
    assert (started[1]["source"], started[1]["detail-type"], started[1]["detail"]) == (
        "prakerja.pool-parts",
        "Pool read",
        {"wave": 1},
    )
    assert wave_store.find(1).state == "SELECTED"  # type: ignore[union-attr]
    # A bad body is refused in the API, before anything is handed over.
    bad = client.http.post("/admin/waves/1/close", headers=headers, body=json.dumps({"force": True}))
    assert (bad.status_code, bad.json_body["error"]["field"]) == (400, "reason")
    assert len(fake.calls) == 2
    again = client.http.post("/admin/waves/1/close", headers=headers)
    assert (again.status_code, again.json_body["state"]) == (200, "SELECTED")
    # Refusals come back as the close gave them.
    out_of_order = client.http.post("/admin/waves/2/close", headers=headers)
    assert (out_of_order.status_code, out_of_order.json_body["error"]["code"]) == (409, "PREVIOUS_WAVE_UNPUBLISHED")
    unknown = client.http.post("/admin/waves/9/close", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json_body["error"] == {"code": "NO_SUCH_WAVE", "message": "there is no wave 9", "field": "number"}
    assert len(fake.calls) == 5
