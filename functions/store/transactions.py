"""The store's one transaction helper and its one conditional update.

Every state change is a conditional write: from the state it expects, so a redelivered message or a repeated
request changes nothing the second time. Several items changing together are one transaction.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.store.models import bind, connection

# A transaction that meets another on the same counter shard is cancelled; these retries absorb that.
_CONFLICT_RETRIES = 5
CONDITION_FAILED = "ConditionalCheckFailed"

Build = Callable[[TransactWrite], None]


def _reason_codes(error: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in (error.cancellation_reasons or [])]


def transact(*parts: Build | None) -> list[str | None]:
    """Runs one transaction made of `parts` (in order), retrying only conflicts with concurrent ones; returns []
    when it committed, else the cancellation code of each item (CONDITION_FAILED where a condition failed)."""
    for attempt in range(_CONFLICT_RETRIES):
        try:
            with TransactWrite(connection=connection()) as transaction:
                for part in parts:
                    if part is not None:
                        part(transaction)
            return []
        except TransactWriteError as error:
            codes = _reason_codes(error)
            if not codes:
                raise
            if "TransactionConflict" not in codes or attempt == _CONFLICT_RETRIES - 1:
                return codes
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")


def committed(codes: list[str | None], what: str) -> bool:
    """True when the transaction committed, False when a condition failed; anything else is an error."""
    if not codes:
        return True
    if CONDITION_FAILED in codes:
        return False
    raise RuntimeError(f"{what} transaction cancelled: {codes}")


def save_if(item: Model, condition: Condition) -> bool:
    """One conditional put of `item`; False when the condition did not hold (nothing written)."""
    bind()
    try:
        item.save(condition=condition)
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def update_if(item: Model, actions: Sequence[Any], condition: Condition) -> bool:
    """One conditional update of `item` (a model keyed by its key attributes, updated in place with the new
    values); False when the condition no longer held."""
    bind()
    try:
        item.update(actions=list(actions), condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
