"""moto's server, with DynamoDB transactions that cost what they touch, and a count of the calls it serves.

moto 5 backs up every table a `TransactWriteItems` touches with `copy.deepcopy` before applying it, so each
transaction costs time in proportion to the whole table: at 5,000 applicants a registration took about a second
and the local stack slowed quadratically. This server rolls back by the items the transaction touches instead,
which is the same all-or-nothing behaviour (a test checks it). It also remembers which service a host belongs to
instead of matching every request against moto's URL patterns again, and its SQS reads the clock once per scan
of a queue rather than twice per message (long polls re-scan on every message sent, and every send counts the
queue's messages three times over).

It also counts the calls it serves and the CPU each kind costs (`GET /_devstack/calls`), so that a local run can
say how much of its time the emulator took, and meters them for their cost (`GET /_devstack/metered`): by the
function that made each call (`devstack.metering`'s header), service and operation, with the DynamoDB capacity
units each would consume (from the items' sizes by DynamoDB's rules). It does not log every request line, and
serves DynamoDB one request at a time (moto's items have no isolation between request threads; DynamoDB's
writes are atomic). Otherwise it is moto's own server (`moto.server`), run the way `moto_server` runs it.

Run as `python -m devstack.moto_server -H 127.0.0.1 -p PORT`.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from moto.cloudformation.models import Stack as CloudFormationStack
from moto.core.utils import unix_time_millis
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.models import Queue as SqsQueue
from werkzeug.serving import run_simple

_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}


def _key(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        key: dict[str, Any] = op["Key"]
        return key
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:  # noqa: PLR0915
    """moto's `transact_write_items`, rolling back the touched items rather than restoring whole tables."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    touched: list[tuple[str, dict[str, Any], Any]] = []

    def rollback() -> None:
        for table_name, key, before in reversed(touched):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before)

    seen: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(item) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in _OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            condition = op.get("ConditionExpression")
            key = _key(self, op_type, op)
            identity = (str(table_name), str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            current = self.get_item(table_name, key)
            if condition is not None and not get_filter_expression(condition, names, values).expr(current):
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    original_item = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                touched.append((table_name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
            expressions = {
                "condition_expression": condition,
                "expression_attribute_names": names,
                "expression_attribute_values": values,
            }
            if op_type == "Put":
                self.put_item(table_name, op["Item"], **expressions)
            elif op_type == "Delete":
                self.delete_item(table_name, key, **expressions)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"], **expressions)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            rollback()
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), original_item))
        except Exception as error:
            errors.append((type(error).__name__, str(error), original_item))
    if any(code is not None for code, _, _ in errors):
        rollback()
        raise TransactionCanceledException(errors)


def _remembered_backend_lookup() -> Callable[[Any, str | None], Any]:
    """moto matches every request's host against hundreds of URL patterns, under a lock, to find the service;
    the answer for a host never changes, so it is worked out once per host."""
    original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def lookup(self: Any, host: str | None) -> Any:
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    return lookup


def _visible_messages(queue: Any) -> list[Any]:
    """moto's `Queue.messages`, reading the clock once per call rather than twice per message."""
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and now >= m.delayed_until]


def _wait_for_messages(queue: Any, timeout: int) -> None:
    """moto's long poll waits until any message is visible; asking "any?" stops at the first one found."""

    def any_visible() -> bool:
        now = unix_time_millis()
        return any(now > m.visible_at and now >= m.delayed_until for m in queue._messages)

    with queue._messages_lock:
        queue._messages_lock.wait_for(any_visible, timeout=timeout)


def _not_visible_count(queue: Any) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now <= m.visible_at)


def _delayed_count(queue: Any) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


# In-process (the integration tests), moto's backend is called from the app's own threads: its writes read an
# item, change it and store it back with nothing between, so two concurrent conditional updates of one item can
# both pass their condition and one increment is lost. DynamoDB applies each write to an item atomically; one lock
# over moto's writes gives the same isolation (the server takes its own lock per request, below).
_ITEM_WRITES = threading.RLock()
_WRITES = ("put_item", "update_item", "delete_item")


def _isolated(write: Callable[..., Any]) -> Callable[..., Any]:
    def isolated(*args: Any, **kwargs: Any) -> Any:
        with _ITEM_WRITES:
            return write(*args, **kwargs)

    return isolated


_PARSED_TEMPLATES: dict[str, dict[str, Any]] = {}


def _parse_template_once(parse: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """moto's CloudFormation parses a template with PyYAML's pure-Python loader: about a second for ours, paid by
    every test that provisions the stack. Parsed once per text, each stack gets a copy of its own."""

    def parse_template(template: str) -> dict[str, Any]:
        if template not in _PARSED_TEMPLATES:
            _PARSED_TEMPLATES[template] = parse(template)
        return copy.deepcopy(_PARSED_TEMPLATES[template])

    parse_template._once = True  # type: ignore[attr-defined]
    return parse_template


def install() -> None:
    if not getattr(CloudFormationStack.parse_template, "_once", False):
        CloudFormationStack.parse_template = staticmethod(_parse_template_once(CloudFormationStack.parse_template))  # type: ignore[method-assign,assignment]
    DynamoDBBackend.transact_write_items = _isolated(transact_write_items)  # type: ignore[method-assign]
    for name in _WRITES:
        write = getattr(DynamoDBBackend, name)
        if not getattr(write, "_isolated", False):
            isolated = _isolated(write)
            isolated._isolated = True  # type: ignore[attr-defined]
            setattr(DynamoDBBackend, name, isolated)
    DomainDispatcherApplication.get_backend_for_host = _remembered_backend_lookup()  # type: ignore[method-assign,assignment]
    SqsQueue.messages = property(_visible_messages)  # type: ignore[method-assign,assignment]
    SqsQueue.wait_for_messages = _wait_for_messages  # type: ignore[method-assign,assignment]
    # Every send computes all of a queue's attributes, three counts over its messages among them.
    SqsQueue.approximate_number_of_messages = property(lambda queue: len(_visible_messages(queue)))  # type: ignore[method-assign,assignment]
    SqsQueue.approximate_number_of_messages_not_visible = property(_not_visible_count)  # type: ignore[method-assign,assignment]
    SqsQueue.approximate_number_of_messages_delayed = property(_delayed_count)  # type: ignore[method-assign,assignment]


StartResponse = Callable[..., Any]

# --- metering: DynamoDB capacity units, by DynamoDB's published sizing rules -----------------------------
_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _value_size(value: dict[str, Any]) -> int:
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(inner) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(x.encode()) for x in inner)
    if kind == "NS":
        return sum(_number_size(x) for x in inner)
    if kind == "BS":
        return sum(len(x) * 3 // 4 for x in inner)
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(x) + 1 for k, x in inner.items())
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in (item or {}).items())


def _stored_size(table: str, key: dict[str, Any]) -> int:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "ap-southeast-3")]
    try:
        found = backend.get_item(table, key)
    except Exception:  # metering never fails a call
        return 0
    return item_size(found.to_json()["Attributes"]) if found else 0


def _write_units(op_type: str, op: dict[str, Any]) -> int:
    """Write units of one item write (1 KB each, rounded up; an update is billed on the item's size)."""
    if op_type in ("Put", "PutRequest"):
        size = item_size(op["Item"])
    elif op_type in ("Update", "ConditionCheck"):
        size = _stored_size(op["TableName"], op["Key"])
    else:  # Delete: billed on the deleted item's size, no longer there to measure
        size = 0
    return max(1, math.ceil(size / 1024))


def _read_units(items: list[dict[str, Any]], missing: int, consistent: bool) -> float:
    """Read units of items read one by one (4 KB each, rounded up; half for an eventually consistent read)."""
    units = sum(max(1, math.ceil(item_size(item) / 4096)) for item in items) + missing
    return units * (1.0 if consistent else 0.5)


def dynamodb_units(operation: str, request: dict[str, Any], answer: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(read units, write units) that DynamoDB on demand would bill for this call, by table."""
    units: dict[str, tuple[float, float]] = {}

    def add(table: str, reads: float = 0.0, writes: float = 0.0) -> None:
        before = units.get(table, (0.0, 0.0))
        units[table] = (before[0] + reads, before[1] + writes)

    table = str(request.get("TableName", ""))
    consistent = bool(request.get("ConsistentRead"))
    if operation == "GetItem":
        found = answer.get("Item")
        add(table, reads=_read_units([found] if found else [], 0 if found else 1, consistent))
    elif operation == "BatchGetItem":
        for name, asked in request.get("RequestItems", {}).items():
            items = answer.get("Responses", {}).get(name, [])
            missing = len(asked.get("Keys", [])) - len(items)
            add(name, reads=_read_units(items, missing, bool(asked.get("ConsistentRead"))))
    elif operation in ("Query", "Scan"):
        size = sum(item_size(item) for item in answer.get("Items", []))
        add(table, reads=max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5))
    elif operation == "TransactGetItems":
        for asked, got in zip(request.get("TransactItems", []), answer.get("Responses", []), strict=False):
            item = got.get("Item")
            add(asked["Get"]["TableName"], reads=2 * _read_units([item] if item else [], 0 if item else 1, True))
    elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
        kind = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[operation]
        add(table, writes=_write_units(kind, request))
    elif operation == "BatchWriteItem":
        for name, requests in request.get("RequestItems", {}).items():
            for entry in requests:
                kind, op = next(iter(entry.items()))
                add(name, writes=_write_units(kind, {**op, "TableName": name}))
    elif operation == "TransactWriteItems":
        for entry in request.get("TransactItems", []):
            kind, op = next(iter(entry.items()))
            add(op["TableName"], writes=2.0 * _write_units(kind, op))
    return units


TABLE_KIND = "DynamoDB table "  # metered rows of units by table (their calls are counted in the call's own row)


def _service_of(environ: dict[str, Any]) -> str:
    """The service a request signs for (`Credential=.../<region>/<service>/aws4_request`)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) > 3 else "unknown"


class CallCounter:
    """WSGI middleware: how many calls of each kind moto served, and the CPU they took."""

    PATH = "/_devstack/calls"

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.calls: dict[str, list[float]] = {}
        # (origin, kind) -> [calls, read units, write units]: the app's calls, for their cost (devstack.metering)
        self.metered: dict[tuple[str, str], list[float]] = {}
        # moto's DynamoDB reads and writes its items from many request threads with no isolation, so two
        # concurrent `ADD`s to one counter can lose one; DynamoDB applies each write atomically. One at a time
        # restores that (SQS keeps its threads: its long polls wait inside requests).
        self.dynamodb = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == self.PATH:
            with self.lock:
                body = json.dumps({k: {"calls": int(v[0]), "cpu_seconds": v[1]} for k, v in self.calls.items()})
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body.encode()]
        if environ.get("PATH_INFO") == self.METERED:
            with self.lock:
                rows = [
                    {"origin": origin, "kind": kind, "calls": int(v[0]), "read_units": v[1], "write_units": v[2]}
                    for (origin, kind), v in self.metered.items()
                ]
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(rows).encode()]
        started = time.thread_time()
        kind = environ.get("HTTP_X_AMZ_TARGET") or f"{environ.get('REQUEST_METHOD')} {environ.get('HTTP_HOST', '')}"
        origin = environ.get("HTTP_X_DEVSTACK_ORIGIN", "")
        units: dict[str, tuple[float, float]] = {}
        if kind.startswith("DynamoDB_"):
            with self.dynamodb:
                request = self._body(environ) if origin else b""
                answer = list(self.app(environ, start_response))
                if origin:
                    units = self._units(kind, request, b"".join(answer))
        else:
            answer = list(self.app(environ, start_response))
        with self.lock:
            totals = self.calls.setdefault(kind, [0.0, 0.0])
            totals[0] += 1
            totals[1] += time.thread_time() - started
            if origin:
                if not environ.get("HTTP_X_AMZ_TARGET"):
                    kind = f"{_service_of(environ)} {environ.get('REQUEST_METHOD')}"
                elif kind == "AmazonSQS.ReceiveMessage" and b'"Messages"' not in b"".join(answer):
                    kind += " (empty)"
                metered = self.metered.setdefault((origin, kind), [0.0, 0.0, 0.0])
                metered[0] += 1
                for table, (reads, writes) in units.items():
                    metered[1] += reads
                    metered[2] += writes
                    by_table = self.metered.setdefault((origin, TABLE_KIND + table), [0.0, 0.0, 0.0])
                    by_table[1] += reads
                    by_table[2] += writes
        return answer

    METERED = "/_devstack/metered"

    @staticmethod
    def _body(environ: dict[str, Any]) -> bytes:
        """The request's body, read here and given back to moto as a fresh stream."""
        body: bytes = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    @staticmethod
    def _units(kind: str, request: bytes, answer: bytes) -> dict[str, tuple[float, float]]:
        try:
            return dynamodb_units(kind.split(".", 1)[1], json.loads(request or b"{}"), json.loads(answer or b"{}"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return {}  # an error answer: not billed as a read or write here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds queue URLs and links from it
    install()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request costs the emulator time
    app = CallCounter(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
