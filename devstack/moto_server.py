"""moto's server, with DynamoDB transactions that cost what they touch, and a count of the calls it serves.

moto 5 backs up every table a `TransactWriteItems` touches with `copy.deepcopy` before applying it, so each
transaction costs time in proportion to the whole table: at 5,000 applicants a registration took about a second
and the local stack slowed quadratically. This server rolls back by the items the transaction touches instead,
which is the same all-or-nothing behaviour (a test checks it). It also remembers which service a host belongs to
instead of matching every request against moto's URL patterns again, and its SQS reads the clock once per scan
of a queue rather than twice per message (long polls re-scan on every message sent, and every send counts the
queue's messages three times over).

It also counts the calls it serves and the CPU each kind costs (`GET /_devstack/calls`), so that a local run can
say how much of its time the emulator took, does not log every request line, and serves DynamoDB one request at
a time (moto's items have no isolation between request threads; DynamoDB's writes are atomic). Otherwise it is
moto's own server (`moto.server`), run the way `moto_server` runs it.

Run as `python -m devstack.moto_server -H 127.0.0.1 -p PORT`.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

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


def install() -> None:
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _remembered_backend_lookup()  # type: ignore[method-assign,assignment]
    SqsQueue.messages = property(_visible_messages)  # type: ignore[method-assign,assignment]
    SqsQueue.wait_for_messages = _wait_for_messages  # type: ignore[method-assign,assignment]
    # Every send computes all of a queue's attributes, three counts over its messages among them.
    SqsQueue.approximate_number_of_messages = property(lambda queue: len(_visible_messages(queue)))  # type: ignore[method-assign,assignment]
    SqsQueue.approximate_number_of_messages_not_visible = property(_not_visible_count)  # type: ignore[method-assign,assignment]
    SqsQueue.approximate_number_of_messages_delayed = property(_delayed_count)  # type: ignore[method-assign,assignment]


StartResponse = Callable[..., Any]


class CallCounter:
    """WSGI middleware: how many calls of each kind moto served, and the CPU they took."""

    PATH = "/_devstack/calls"

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.calls: dict[str, list[float]] = {}
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
        started = time.thread_time()
        kind = environ.get("HTTP_X_AMZ_TARGET") or f"{environ.get('REQUEST_METHOD')} {environ.get('HTTP_HOST', '')}"
        if kind.startswith("DynamoDB_"):
            with self.dynamodb:
                answer = list(self.app(environ, start_response))
        else:
            answer = list(self.app(environ, start_response))
        with self.lock:
            totals = self.calls.setdefault(kind, [0.0, 0.0])
            totals[0] += 1
            totals[1] += time.thread_time() - started
        return answer


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
