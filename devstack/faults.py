"""Faults the local stack can inject, by configuration, into the app's own processes (gateway, pollers, scheduler):

    DEVSTACK_DYNAMODB_THROTTLE=0.15   that share of DynamoDB calls answered ProvisionedThroughputExceeded
    DEVSTACK_DELIVER_TWICE=1          the pollers let every message come back once more, after a random pause
    DEVSTACK_FAULTS_SWITCH=PATH       both apply only while that file exists (a run sets its stage up without them)

The throttles are answered from a botocore `before-send` handler, so the SDK's own retries see them as they would
see DynamoDB's. Each throttle is logged (THROTTLED), so that a run can count them from the processes' logs.
Killing consumers and taking the registry down are done from outside (devstack.fault_run).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

from devstack import hooks
from functions.observability import logger

SWITCH = "DEVSTACK_FAULTS_SWITCH"
THROTTLED = "DynamoDB call throttled (injected)"

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
        if not target or not target.startswith("DynamoDB_") or chance.random() >= share or not switched_on():
            return None
        logger.warning(THROTTLED, extra={"operation": target})
        return hooks.respond(request, _THROTTLED, 400)

    return maybe_throttle


def install() -> None:
    """Installs the faults the environment asks for in this process (a no-op when it asks for none)."""
    share = float(os.environ.get("DEVSTACK_DYNAMODB_THROTTLE") or 0)
    if share <= 0:
        return
    hooks.on_every_client("before-send", _throttle(share))


def deliver_twice() -> bool:
    return os.environ.get("DEVSTACK_DELIVER_TWICE") == "1" and switched_on()


def switched_on() -> bool:
    """Unless DEVSTACK_FAULTS_SWITCH names a file that is not there: asked at each call, so that a run turns the
    faults on and off while the processes run."""
    switch = os.environ.get(SWITCH)
    return not switch or Path(switch).exists()


def throttles_logged(log_dir: Path) -> int:
    """The throttles the stack's processes injected, counted from their logs."""
    return sum(log.read_text(errors="replace").count(THROTTLED) for log in log_dir.glob("*.log"))
