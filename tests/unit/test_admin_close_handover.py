"""The admin close's handover to the closing function, without AWS: the invocation, the event the scheduled
handler takes, and the admin authorizer's cache (the security rules' "at most 60 s")."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
from botocore.stub import Stubber
from chalice.app import CloudWatchEvent

from functions import caches
from functions.adapters import invoke
from functions.app import app
from functions.domain.errors import ErrorCode, InvalidField, NotFound
from functions.domain.messages import CloseRequest
from functions.domain.requests import parse_body
from functions.services import closing, selection


@pytest.fixture
def lambda_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    caches.reset_all()
    caches.reset_all()
    client = invoke.client("lambda", read_timeout=28.0, attempts=1)
    with Stubber(client) as stubber:
        yield stubber
    caches.reset_all()
    caches.reset_all()


def _answer(payload: Any, function_error: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(payload).encode())}
    if function_error:
        answer["FunctionError"] = function_error
    return answer


def test_a_call_waits_for_the_functions_answer(lambda_stub: Stubber) -> None:
    payload = {"detail": {"wave": 3}}
    expected = {"FunctionName": "f", "InvocationType": "RequestResponse", "Payload": json.dumps(payload).encode()}
    lambda_stub.add_response("invoke", _answer({"wave": {"number": 3}}), expected)
    assert invoke.call("f", payload) == {"wave": {"number": 3}}


def test_a_failed_function_is_an_error_not_an_answer(lambda_stub: Stubber) -> None:
    lambda_stub.add_response("invoke", _answer({"errorMessage": "boom"}, "Unhandled"))
    with pytest.raises(invoke.FunctionFailed):
        invoke.call("f", {})


def test_the_close_request_is_an_event_the_scheduled_handler_takes() -> None:
    request = closing.close_request(7, dt.datetime(2026, 3, 26, 9, tzinfo=dt.UTC))
    event = CloudWatchEvent(json.loads(json.dumps(request)), None)
    assert closing.is_close_request(event.source, event.detail_type)
    assert event.detail == {"wave": 7} and event.time == "2026-03-26T09:00:00Z"
    # EventBridge's own schedule ticks are not close requests.
    assert not closing.is_close_request("aws.events", "Scheduled Event")


def test_a_forced_close_carries_force_reason_and_admin_to_the_closing_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-3")
    caches.reset_all()
    forced = CloseRequest(force=True, reason="registry outage")
    request = closing.close_request(7, dt.datetime(2026, 3, 25, 9, tzinfo=dt.UTC), forced, "ops@kemnaker.go.id")
    event = CloudWatchEvent(json.loads(json.dumps(request)), None)
    assert event.detail == {"wave": 7, "force": True, "reason": "registry outage", "admin": "ops@kemnaker.go.id"}
    seen: list[tuple[int, CloseRequest, str]] = []
    monkeypatch.setattr(selection, "admin_close", lambda *args: seen.append(args) or {"number": 7})
    assert closing.run_close_request(event.detail) == {"wave": {"number": 7}}
    assert seen == [(7, forced, "ops@kemnaker.go.id")]
    caches.reset_all()


def test_a_refused_close_is_the_same_refusal_in_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """The closing function answers a refusal as JSON; the API raises it again as the same kind, so it keeps its
    status."""
    refusal = NotFound(ErrorCode.NO_SUCH_WAVE, "there is no wave 9", "number")

    def refuse(*_: Any) -> NoReturn:
        raise refusal

    monkeypatch.setattr(selection, "admin_close", refuse)
    answer = json.loads(json.dumps(closing.run_close_request({"wave": 9})))
    monkeypatch.setenv("PRAKERJA_CLOSE_FUNCTION", "close-due-waves")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-3")
    caches.reset_all()
    monkeypatch.setattr(invoke, "call", lambda *_: answer)
    with pytest.raises(NotFound) as refused:
        closing.admin_close(9)
    assert (refused.value.code, refused.value.message, refused.value.field) == (
        ErrorCode.NO_SUCH_WAVE,
        refusal.message,
        "number",
    )
    caches.reset_all()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b'{"force": true}', "MISSING_REASON", "reason"),
        (b'{"force": true, "reason": " "}', "MISSING_REASON", "reason"),
        (b'{"force": 1, "reason": "x"}', "WRONG_TYPE", "force"),
        (b'{"reason": "x", "admin": "me"}', "UNKNOWN_FIELD", "admin"),
        (b"{", "INVALID_JSON", None),
    ],
)
def test_a_close_request_body_is_checked(body: bytes, code: str, field: str | None) -> None:
    with pytest.raises(InvalidField) as refused:
        parse_body(CloseRequest, body)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_admin_authorizer_decisions_are_cached_at_most_a_minute() -> None:
    (authorizer,) = app.builtin_auth_handlers
    assert authorizer.name == "admin_authorizer"
    assert authorizer.ttl_seconds is not None and 0 < authorizer.ttl_seconds <= 60
