"""What a Lambda container keeps between invocations (settings, AWS clients, opened keys, the registry client, the
idempotency layer), and the one function that forgets it all, as a fresh container would: tests and the local
stack change the environment between cases and call `reset_all`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

Function = TypeVar("Function", bound=Callable[..., Any])

_clears: list[Callable[[], None]] = []


def per_process(function: Function) -> Function:
    """`functools.cache`, forgotten by `reset_all`."""
    cached = functools.cache(function)
    _clears.append(cached.cache_clear)
    return cached  # type: ignore[return-value]


def forgotten_by_reset(clear: Callable[[], None]) -> None:
    """Registers another cache's clear (one `per_process` cannot express, such as a bounded LRU)."""
    _clears.append(clear)


def reset_all() -> None:
    for clear in _clears:
        clear()
