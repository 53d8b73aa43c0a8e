"""Powertools Logger, Metrics and Tracer, shared by every handler.

Log lines carry applicant ids, statuses, reasons and counts; never a NIK, KK, name, birth date, email or phone.
The Tracer is made on first use: making it imports the X-Ray SDK (about 170 ms here, even with tracing off), which
every cold start would pay for at import, while only the event handlers are traced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "prakerja"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Prakerja", service=SERVICE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


@functools.cache
def tracer() -> Tracer:
    return Tracer(service=SERVICE)


def traced(handler: Handler) -> Handler:
    """Powertools' `capture_method`, with the Tracer made when the handler first runs."""

    @functools.cache
    def wrapped() -> Callable[..., Any]:
        return tracer().capture_method(handler)

    @functools.wraps(handler)
    def call(*args: Any, **kwargs: Any) -> Any:
        return wrapped()(*args, **kwargs)

    return call  # type: ignore[return-value]
