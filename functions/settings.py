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

# Barred from the programme by the 2020-21 regulations (the civil registry's occupation codes).
BARRED_OCCUPATIONS = (
    "ASN",
    "TNI",
    "POLRI",
    "STATE_OFFICIAL",
    "DPRD",
    "VILLAGE_HEAD",
    "VILLAGE_OFFICIAL",
    "BUMN_DIRECTOR",
    "BUMN_COMMISSIONER",
    "BUMD_DIRECTOR",
    "BUMD_COMMISSIONER",
)
# Served first: those who lost work or income to the pandemic.
PRIORITY_EMPLOYMENT = ("laid_off", "furloughed", "micro_business")


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _env_quotas(name: str) -> tuple[tuple[str, int], ...]:
    """'31:1000,32:2500' -> (("31", 1000), ("32", 2500)): province code and the most selected per wave."""
    quotas = []
    for item in _env_list(name, ()):
        province, _, quota = item.partition(":")
        quotas.append((province.strip(), int(quota)))
    return tuple(quotas)


@dataclass(frozen=True)
class Settings:
    # Endpoints are not settings of ours: boto3 reads AWS_ENDPOINT_URL (any other endpoint: moto's server,
    # LocalStack) and AWS_ENDPOINT_URL_<SERVICE> (one service elsewhere) itself.
    region: str
    applicants_table: str
    identity_guards_table: str
    counters_table: str
    keyring_table: str
    idempotency_table: str
    waves_table: str
    wave_members_table: str
    families_table: str
    results_bucket: str
    publish_queue_url: str
    draw_seed_key_id: str
    # The function an admin close runs in (the only one that may open draw seeds); empty: in this process.
    close_function: str
    intake_queue_url: str
    notifications_queue_url: str
    nik_check_queue_url: str
    personal_data_key_id: str
    # Notifications: "outbox" writes each message as a JSON line to `outbox_path` (local); "aws" sends email
    # through SES and SMS through SNS, and also writes the outbox when `outbox_path` is set.
    notifier: str
    outbox_path: str
    email_sender: str
    # The civil registry (Dukcapil) and how hard we may press it.
    registry_url: str
    registry_timeout_seconds: float
    registry_retries: int
    registry_requests_per_second: float
    registry_breaker_failures: int
    registry_breaker_reset_seconds: float
    # Email codes.
    email_code_ttl_seconds: int
    email_code_max_wrong_tries: int
    email_code_resend_interval_seconds: int
    email_code_resends_per_day: int
    # Eligibility (defaults from the 2020-21 regulations).
    min_age: int
    max_age: int
    barred_occupations: tuple[str, ...]
    priority_employment: tuple[str, ...]
    # Waves and the draw.
    wave_close: str  # weekday and time in WIB, e.g. "THU 16:00"
    wave_publish: str
    wave_quota: int
    kk_cap: int
    province_quotas: tuple[tuple[str, int], ...]
    publish_chunk_size: int
    # A public randomness beacon (drand's HTTP API), off when empty.
    beacon_url: str
    beacon_genesis_time: int
    beacon_period_seconds: int
    # Admin credentials: signed tokens, this long-lived at most.
    admin_token_max_hours: int
    # Shards for the funnel counters: spreads the counter writes of a burst over several items.
    counter_shards: int
    # The API sheds load (429) rather than wait longer than this on the intake queue.
    intake_send_timeout_seconds: float
    retry_after_seconds: int
    # Brute force: failed bearer tokens per applicant id per window, before 429.
    token_failures_allowed: int
    token_failure_window_seconds: int
    log_level: str

    @classmethod
    def from_environ(cls) -> Settings:
        return cls(
            region=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            applicants_table=_env("PRAKERJA_APPLICANTS_TABLE", "prakerja-applicants"),
            identity_guards_table=_env("PRAKERJA_IDENTITY_GUARDS_TABLE", "prakerja-identity-guards"),
            counters_table=_env("PRAKERJA_COUNTERS_TABLE", "prakerja-counters"),
            keyring_table=_env("PRAKERJA_KEYRING_TABLE", "prakerja-keyring"),
            idempotency_table=_env("PRAKERJA_IDEMPOTENCY_TABLE", "prakerja-idempotency"),
            waves_table=_env("PRAKERJA_WAVES_TABLE", "prakerja-waves"),
            wave_members_table=_env("PRAKERJA_WAVE_MEMBERS_TABLE", "prakerja-wave-members"),
            families_table=_env("PRAKERJA_FAMILIES_TABLE", "prakerja-families"),
            results_bucket=_env("PRAKERJA_RESULTS_BUCKET", "prakerja-results"),
            publish_queue_url=_env("PRAKERJA_PUBLISH_QUEUE_URL"),
            draw_seed_key_id=_env("PRAKERJA_DRAW_SEED_KEY_ID")
            or _env("PRAKERJA_PERSONAL_DATA_KEY_ID", "alias/prakerja-personal-data"),
            close_function=_env("PRAKERJA_CLOSE_FUNCTION"),
            intake_queue_url=_env("PRAKERJA_INTAKE_QUEUE_URL"),
            notifications_queue_url=_env("PRAKERJA_NOTIFICATIONS_QUEUE_URL"),
            nik_check_queue_url=_env("PRAKERJA_NIK_CHECK_QUEUE_URL"),
            personal_data_key_id=_env("PRAKERJA_PERSONAL_DATA_KEY_ID", "alias/prakerja-personal-data"),
            notifier=_env("PRAKERJA_NOTIFIER", "outbox"),
            outbox_path=_env("PRAKERJA_OUTBOX", str(local_dir() / "outbox.jsonl")),
            email_sender=_env("PRAKERJA_EMAIL_SENDER", "no-reply@prakerja.go.id"),
            registry_url=_env("PRAKERJA_REGISTRY_URL", "http://127.0.0.1:8787"),
            registry_timeout_seconds=_env_float("PRAKERJA_REGISTRY_TIMEOUT_SECONDS", 2.0),
            registry_retries=_env_int("PRAKERJA_REGISTRY_RETRIES", 2),
            registry_requests_per_second=_env_float("PRAKERJA_REGISTRY_REQUESTS_PER_SECOND", 50.0),
            registry_breaker_failures=_env_int("PRAKERJA_REGISTRY_BREAKER_FAILURES", 5),
            registry_breaker_reset_seconds=_env_float("PRAKERJA_REGISTRY_BREAKER_RESET_SECONDS", 10.0),
            email_code_ttl_seconds=_env_int("PRAKERJA_EMAIL_CODE_TTL_SECONDS", 24 * 3600),
            email_code_max_wrong_tries=_env_int("PRAKERJA_EMAIL_CODE_MAX_WRONG_TRIES", 5),
            email_code_resend_interval_seconds=_env_int("PRAKERJA_EMAIL_CODE_RESEND_INTERVAL_SECONDS", 60),
            email_code_resends_per_day=_env_int("PRAKERJA_EMAIL_CODE_RESENDS_PER_DAY", 5),
            min_age=_env_int("PRAKERJA_MIN_AGE", 18),
            max_age=_env_int("PRAKERJA_MAX_AGE", 64),
            barred_occupations=_env_list("PRAKERJA_BARRED_OCCUPATIONS", BARRED_OCCUPATIONS),
            priority_employment=_env_list("PRAKERJA_PRIORITY_EMPLOYMENT", PRIORITY_EMPLOYMENT),
            wave_close=_env("PRAKERJA_WAVE_CLOSE", "THU 16:00"),
            wave_publish=_env("PRAKERJA_WAVE_PUBLISH", "FRI 10:00"),
            wave_quota=_env_int("PRAKERJA_WAVE_QUOTA", 164_000),
            kk_cap=_env_int("PRAKERJA_KK_CAP", 2),
            province_quotas=_env_quotas("PRAKERJA_PROVINCE_QUOTAS"),
            publish_chunk_size=_env_int("PRAKERJA_PUBLISH_CHUNK_SIZE", 500),
            beacon_url=_env("PRAKERJA_BEACON_URL"),
            beacon_genesis_time=_env_int("PRAKERJA_BEACON_GENESIS_TIME", 1595431050),
            beacon_period_seconds=_env_int("PRAKERJA_BEACON_PERIOD_SECONDS", 30),
            admin_token_max_hours=_env_int("PRAKERJA_ADMIN_TOKEN_MAX_HOURS", 12),
            counter_shards=_env_int("PRAKERJA_COUNTER_SHARDS", 16),
            intake_send_timeout_seconds=float(_env("PRAKERJA_INTAKE_SEND_TIMEOUT_SECONDS", "1")),
            retry_after_seconds=_env_int("PRAKERJA_RETRY_AFTER_SECONDS", 5),
            token_failures_allowed=_env_int("PRAKERJA_TOKEN_FAILURES_ALLOWED", 20),
            token_failure_window_seconds=_env_int("PRAKERJA_TOKEN_FAILURE_WINDOW_SECONDS", 600),
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
