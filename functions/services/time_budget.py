"""A fan-out consumer's patience: the time one invocation may spend on its message, and calls retried with backoff
while AWS throttles them within that time. Publication's chunks and the revocation's shards both keep what they
finished and hand the rest on as a new message when the time runs out (`OutOfTime`), so a run of throttles delays a
message rather than sending it to the dead-letter queue."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from functions.aws_clients import is_transient
from functions.observability import metrics

# Backoff from a twentieth of a second up to two seconds between tries of one call; the time kept back from
# Lambda's remaining time to hand the rest on; the budget outside Lambda.
_FIRST_PAUSE = 0.05
_LONGEST_PAUSE = 2.0
_MARGIN = 10.0
_DEFAULT_BUDGET = 60.0

T = TypeVar("T")


class OutOfTime(Exception):
    """A throttled call could not be retried within the message's time."""


def deadline_of(context: Any = None) -> float:
    """The `time.monotonic()` by which the invocation stops working and hands the rest on: Lambda's remaining time,
    less a margin to send that message."""
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else _DEFAULT_BUDGET
    return time.monotonic() + remaining - min(_MARGIN, remaining / 4)


def retrying(call: Callable[[], T], deadline: float, throttled_metric: str) -> T:
    """`call`, retried with jittered exponential backoff while AWS throttles it (or is briefly unavailable) and
    the time lasts (each retry counted in `throttled_metric`); `OutOfTime` when it does not."""
    pause = _FIRST_PAUSE
    while True:
        try:
            return call()
        except Exception as error:
            if not is_transient(error):
                raise
            if time.monotonic() + pause >= deadline:
                raise OutOfTime(type(error).__name__) from error
            metrics.add_metric(name=throttled_metric, unit="Count", value=1)
            time.sleep(random.uniform(pause / 2, pause))  # noqa: S311 - jitter, not a secret
            pause = min(pause * 2, _LONGEST_PAUSE)
