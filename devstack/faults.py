"""Faults the local stack can inject, by configuration, into the app's own processes (gateway, pollers, scheduler):

    DEVSTACK_DYNAMODB_THROTTLE=0.15   that share of DynamoDB calls answered ProvisionedThroughputExceeded
    DEVSTACK_DELIVER_TWICE=1          the pollers let every message come back once more, after a random pause

The throttles are answered from a botocore `before-send` handler, so the SDK's own retries see them as they would
see DynamoDB's. Killing consumers and taking the registry down are done from outside (devstack.fault_run).
"""

from __future__ import annotations

import os
import random
from typing import Any

from botocore.awsrequest import AWSResponse

from devstack import hooks

_THROTTLED = hooks.answer(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded (injected)",
    }
)


def _throttle(share: float) -> Any:
    chance = random.Random()  # noqa: S311 - a fault schedule, not a secret

    def maybe_throttle(request: Any, **_: Any) -> AWSResponse | None:
        target = hooks.target(request)
        if not target or not target.startswith("DynamoDB_") or chance.random() >= share:
            return None
        return hooks.respond(request, _THROTTLED, 400)

    return maybe_throttle


def install() -> None:
    """Installs the faults the environment asks for in this process (a no-op when it asks for none)."""
    share = float(os.environ.get("DEVSTACK_DYNAMODB_THROTTLE") or 0)
    if share <= 0:
        return
    hooks.on_every_client("before-send", _throttle(share))


def deliver_twice() -> bool:
    return os.environ.get("DEVSTACK_DELIVER_TWICE") == "1"
