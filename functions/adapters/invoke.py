"""Calling another of the app's functions: waiting for its answer (Lambda's RequestResponse invocation), or
starting it and going on (an Event invocation, which Lambda retries itself)."""

from __future__ import annotations

import json
from typing import Any

from functions.aws_clients import client

# Within the API function's 30 s and API Gateway's 29 s: a call that takes longer is answered "busy, try again"
# (a read timeout is transient), while the called function finishes its work, which repeats harmlessly.
_READ_TIMEOUT_SECONDS = 28.0


class FunctionFailed(Exception):
    """The called function raised; its error is in its own log, not repeated here."""


def call(function_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    lambda_client: Any = client("lambda", read_timeout=_READ_TIMEOUT_SECONDS, attempts=1)
    answer = lambda_client.invoke(
        FunctionName=function_name, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
    )
    body = answer["Payload"].read()
    if answer.get("FunctionError"):
        raise FunctionFailed(f"{function_name} failed ({answer['FunctionError']})")
    result: dict[str, Any] = json.loads(body)
    return result


def start(function_name: str, payload: dict[str, Any]) -> None:
    client("lambda").invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps(payload).encode())
