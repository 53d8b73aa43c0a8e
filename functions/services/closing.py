"""`POST /admin/waves/{number}/close` runs where a draw seed may be opened: in the closing function.

Draw seeds stay secret until the close, so only the functions that close and draw a wave may decrypt them
(`template.yaml`, `DrawSeedKey`); the API's role cannot. The API therefore hands an admin close to the
`close_due_waves` function as an event of the schedule's own shape, with the wave in its detail, and answers
with what that function did: the wave, or the same refusal (404, 409) the close gave. The HTTP contract is the
one the close had when it ran in the API. Without a close function configured (the local stack and the tests,
one process and no Lambda) the close runs in place.

A close before the wave's `closes_at` needs `{"force": true, "reason": ...}`; the request's detail carries them
with the admin's name (the authorizer's principal), which the manifest records.

The close reads the pool through workers (`services.pool_reading`), which may open the wave secret but not the
seed: the worker that finds the pool read whole starts the closing function (an event it takes as the schedule's:
whatever is due, the draw now), or, without a close function configured, runs it in place.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from functions import clock
from functions.adapters import invoke
from functions.domain.errors import Conflict, Forbidden, InvalidField, NotFound, Refusal, Unprocessable
from functions.domain.messages import CloseRequest
from functions.domain.requests import parse_body
from functions.services import notifications, pool_reading, selection
from functions.settings import settings

if TYPE_CHECKING:
    from functions.services.sqs_records import PoolPartRecord

ADMIN_SOURCE = "prakerja.admin"
CLOSE_REQUEST = "Close wave"
POOL_SOURCE = "prakerja.pool-parts"
POOL_READ = "Pool read"

# The refusals a close may answer, named in the closing function's answer by their kind.
_REFUSALS: dict[str, type[Refusal]] = {
    kind.__name__: kind for kind in (InvalidField, Forbidden, NotFound, Conflict, Unprocessable)
}


def admin_close(number: int, body: bytes = b"", admin: str = "") -> dict[str, Any]:
    """In the API: the close and draw of wave `number`, done by the closing function. `body` is the request's
    (empty, or `{"force", "reason"}`), `admin` who asks."""
    request = parse_body(CloseRequest, body) if body.strip() else CloseRequest()
    function = settings().close_function
    if not function:
        return selection.admin_close(number, request, admin)
    answer = invoke.call(function, close_request(number, clock.now(), request, admin))
    refusal = answer.get("refusal")
    if refusal is not None:
        raise _REFUSALS[refusal["kind"]](refusal["code"], refusal["message"], refusal.get("field"))
    wave: dict[str, Any] = answer["wave"]
    return wave


def close_request(
    number: int, now: dt.datetime, request: CloseRequest | None = None, admin: str = ""
) -> dict[str, Any]:
    """An EventBridge-shaped event, as the schedule's own are, so the scheduled handler can take it."""
    detail: dict[str, Any] = {"wave": number}
    if request is not None and request.force:
        detail.update(force=True, reason=request.reason, admin=admin)
    return _event(ADMIN_SOURCE, CLOSE_REQUEST, now, detail)


def _event(source: str, detail_type: str, now: dt.datetime, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "",
        "time": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": settings().region,
        "resources": [],
        "detail": detail,
    }


def is_close_request(source: str, detail_type: str) -> bool:
    return source == ADMIN_SOURCE and detail_type == CLOSE_REQUEST


def run_close_request(detail: dict[str, Any]) -> dict[str, Any]:
    """In the closing function: the close and draw, answered as data; a refusal is an answer, not a failure."""
    try:
        request = CloseRequest(force=bool(detail.get("force", False)), reason=detail.get("reason"))
        return {"wave": selection.admin_close(int(detail["wave"]), request, str(detail.get("admin") or ""))}
    except Refusal as refusal:
        if type(refusal).__name__ not in _REFUSALS:
            raise
        return {
            "refusal": {
                "kind": type(refusal).__name__,
                "code": refusal.code,
                "message": refusal.message,
                "field": refusal.field,
            }
        }


def read_pool_part(record: PoolPartRecord, _sends: notifications.BatchSends) -> None:
    """In the pool-part worker: one part of a closed wave's pool; the worker that completes the pool has it drawn
    where the seed may be opened. Should that start be lost, the hourly schedule draws the wave all the same."""
    number = record.body.wave
    if not pool_reading.read_part(record.body):
        return
    now = clock.now()
    function = settings().close_function
    if not function:
        selection.advance(now)
        return
    invoke.start(function, _event(POOL_SOURCE, POOL_READ, now, {"wave": number}))
