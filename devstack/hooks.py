"""Botocore hooks for the local stack's sink and faults: a handler on every client a process makes from now on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.session


def on_every_client(event: str, handler: Callable[..., Any]) -> None:
    """Registers `handler` for a botocore event on every client made from now on in this process (boto3's and
    pynamodb's alike: both make their clients through botocore sessions)."""
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register(event, handler)
        return client

    botocore.session.Session.create_client = create_client
