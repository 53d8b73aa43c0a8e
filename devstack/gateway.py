"""The local API gateway: a WSGI adapter over Chalice's own `LocalGateway`, served by gunicorn.

`chalice local` is a single-threaded development server (about 100 requests/s here, with socket errors under
load); the same `LocalGateway` (routing, path parameters, the built-in authorizer) behind gunicorn's worker
processes serves all routes on one port, concurrently. Each worker handles one request at a time, as a Lambda
container does, because a Chalice app keeps the current request on the app object.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException
from gunicorn import util as gunicorn_util

from devstack import faults, metering, programme_clock
from functions.domain.errors import ErrorCode
from functions.domain.registration import MAX_BODY_BYTES

# Far above the contract's 16 KiB, so the app itself answers 413 with its own message; beyond this the gateway
# refuses without reading the body, as API Gateway does beyond its payload limit.
MAX_REQUEST_BYTES = 64 * MAX_BODY_BYTES
_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_GATEWAY_CODES = {
    401: ErrorCode.UNAUTHORISED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    500: ErrorCode.INTERNAL_ERROR,
}

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _write_error_as_json(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn answers requests it cannot parse itself, with an HTML page; this answers in the contract's shape.

    Header lines it refuses (bare CR or LF, NUL, folding, oversized fields) are the client's errors: 400.
    """
    status = 400 if status_int in (414, 417, 431, 501) else status_int
    code = {400: ErrorCode.BAD_REQUEST, 403: ErrorCode.FORBIDDEN}.get(status, ErrorCode.INTERNAL_ERROR)
    body = json.dumps({"error": {"code": code, "message": "the request is not valid HTTP"}}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin1") + body)


gunicorn_util.write_error = _write_error_as_json


@functools.cache
def _gateway() -> LocalGateway:
    metering.install()
    if os.environ.get("DEVSTACK_SINK") == "1":  # the replay's ceiling run: see devstack.sink
        from devstack import sink

        sink.install()
    faults.install()
    programme_clock.install()
    from functions.app import app

    config = Config.create(chalice_stage="prod", app_name="prakerja", lambda_timeout=30, lambda_memory_size=512)
    return LocalGateway(app, config)


def _answer(start_response: StartResponse, status: int, headers: dict[str, str], body: bytes) -> Iterable[bytes]:
    start_response(f"{status} {_REASONS.get(status, 'Status')}", [*headers.items(), ("Content-Length", str(len(body)))])
    return [body]


def _error(start_response: StartResponse, status: int, code: str, message: str) -> Iterable[bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return _answer(start_response, status, {"Content-Type": "application/json"}, body)


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    return headers


def _body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it is larger than the gateway takes (read no further than that)."""
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        if int(declared) > MAX_REQUEST_BYTES:
            return None
        body: bytes = environ["wsgi.input"].read(int(declared))
        return body
    body = environ["wsgi.input"].read(MAX_REQUEST_BYTES + 1)  # chunked: gunicorn de-chunks it
    return None if len(body) > MAX_REQUEST_BYTES else body


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    body = _body(environ)
    if body is None:
        return _error(start_response, 413, ErrorCode.BODY_TOO_LARGE, "the body is larger than the gateway accepts")
    # The path as sent (percent-encoded): Chalice parses it again, and a decoded "?" or "#" would cut it short.
    path = environ.get("RAW_URI") or environ.get("PATH_INFO") or "/"
    if "RAW_URI" not in environ and environ.get("QUERY_STRING"):
        path = f"{path}?{environ['QUERY_STRING']}"
    try:
        gateway = _gateway()
        with metering.invocation(metering.route_of(environ["REQUEST_METHOD"], path)):
            response = gateway.handle_request(environ["REQUEST_METHOD"], path, _request_headers(environ), body)
    except LocalGatewayException as refusal:
        status = refusal.CODE
        if status == 403 and b"Missing Authentication Token" in (refusal.body or b""):
            return _error(start_response, 404, ErrorCode.NOT_FOUND, "no such route")
        return _error(
            start_response, status, _GATEWAY_CODES.get(status, ErrorCode.ERROR), "request refused by the gateway"
        )
    headers = {key: str(value) for key, value in (response.get("headers") or {}).items()}
    payload = response.get("body") or ""
    raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
    return _answer(start_response, int(response["statusCode"]), headers, raw)
