"""Every setting the app reads, from environment variables, in one place.

`settings()` reads the environment on first use, never at import, so tests and the local stack can set the
variables before anything asks. `reset()` forgets the cached copy (tests change the environment between cases).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REGION = "ap-southeast-3"  # Jakarta


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    region: str
    # Any other endpoint (moto's server, LocalStack, a VPC endpoint); empty means AWS's own endpoints.
    endpoint_url: str
    applicants_table: str
    identity_guards_table: str
    counters_table: str
    keyring_table: str
    idempotency_table: str
    intake_queue_url: str
    personal_data_key_id: str
    # Shards for the funnel counters: spreads the counter writes of a burst over several items.
    counter_shards: int
    # The API sheds load (429) rather than wait longer than this on the intake queue.
    intake_send_timeout_seconds: float
    retry_after_seconds: int
    log_level: str

    @classmethod
    def from_environ(cls) -> Settings:
        return cls(
            region=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            endpoint_url=_env("AWS_ENDPOINT_URL"),
            applicants_table=_env("PRAKERJA_APPLICANTS_TABLE", "prakerja-applicants"),
            identity_guards_table=_env("PRAKERJA_IDENTITY_GUARDS_TABLE", "prakerja-identity-guards"),
            counters_table=_env("PRAKERJA_COUNTERS_TABLE", "prakerja-counters"),
            keyring_table=_env("PRAKERJA_KEYRING_TABLE", "prakerja-keyring"),
            idempotency_table=_env("PRAKERJA_IDEMPOTENCY_TABLE", "prakerja-idempotency"),
            intake_queue_url=_env("PRAKERJA_INTAKE_QUEUE_URL"),
            personal_data_key_id=_env("PRAKERJA_PERSONAL_DATA_KEY_ID", "alias/prakerja-personal-data"),
            counter_shards=_env_int("PRAKERJA_COUNTER_SHARDS", 16),
            intake_send_timeout_seconds=float(_env("PRAKERJA_INTAKE_SEND_TIMEOUT_SECONDS", "3")),
            retry_after_seconds=_env_int("PRAKERJA_RETRY_AFTER_SECONDS", 5),
            log_level=_env("POWERTOOLS_LOG_LEVEL", "INFO"),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_environ()


def reset() -> None:
    settings.cache_clear()


def local_dir() -> Path:
    """Where the local stack keeps its files (outbox, logs, reports)."""
    return Path(_env("PRAKERJA_LOCAL_DIR", ".local"))
