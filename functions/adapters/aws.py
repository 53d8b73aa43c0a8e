"""boto3 clients, made once per process on first use (endpoints from the AWS variables, as boto3 reads them)."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

from functions.settings import settings


@functools.cache
def client(service: str, *, read_timeout: float = 10.0, attempts: int = 3) -> Any:
    current = settings()
    config = Config(
        region_name=current.region,
        connect_timeout=2,
        read_timeout=read_timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
        max_pool_connections=50,
    )
    return boto3.session.Session().client(service, config=config)


def reset() -> None:
    client.cache_clear()
