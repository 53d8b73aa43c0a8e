"""Every setting the app reads, from environment variables, in one place, validated on first use.

`settings()` reads the environment on first use, never at import, so tests and the local stack can set the
variables before anything asks; `reset()` forgets the cached copy (tests change the environment between cases).
pydantic-settings reads and validates the variables (`PRAKERJA_<FIELD>`, plus the AWS and Powertools names noted
below); it is imported on that first use, not at every cold import. Anything wrong is one `SettingsError` that
names each variable at fault: a wrong type, a value out of range, an unknown notifier, a quota that does not
parse, a minimum age above the maximum, a calendar that is not a weekday and a time.

**Deployed or local.** A function is deployed when `AWS_LAMBDA_FUNCTION_NAME` is set: Lambda's runtime sets it
in every function, and nothing local does (the local stack, the tests and the benchmarks never set it). A
deployed function gets no local-stack default: each variable in `REQUIRED_WHEN_DEPLOYED` that is missing or empty
is named in one error, and so is any `PRAKERJA_` variable it does not know (a misspelt name would otherwise be a
silent default). It must also send through AWS (`PRAKERJA_NOTIFIER=aws`: the outbox file would reach nobody) and
keep the calendar the schedules were packaged with (`functions.domain.rules`). Locally, the defaults in
`_local_stack()` stand in for what `template.yaml` gives a deployed function, as before.

Rule values (ages, the KK cap, the calendar, the email-code limits) default to `functions.domain.rules`, their one
home; the domain never reads settings, its callers pass the values in.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from functions import caches
from functions.domain import rules
from functions.domain.calendar import WaveCalendar, WeeklyMoment

DEFAULT_REGION = "ap-southeast-3"  # Jakarta
ENV_PREFIX: Final = "PRAKERJA_"
# Lambda's runtime sets this in every deployed function; nothing local does.
DEPLOYED_MARKER: Final = "AWS_LAMBDA_FUNCTION_NAME"

# Kept importable from here for the callers that read them as settings' defaults.
BARRED_OCCUPATIONS = rules.BARRED_OCCUPATIONS
PRIORITY_EMPLOYMENT = rules.PRIORITY_EMPLOYMENT

Notifier = Literal["outbox", "aws"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(ValueError):
    """The environment does not make a working configuration; the message names every variable at fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


def local_dir() -> Path:
    """Where the local stack keeps its files (outbox, logs, reports)."""
    return Path(os.environ.get("PRAKERJA_LOCAL_DIR") or ".local")


class Settings(BaseModel):
    """The validated settings. The defaults here hold wherever the code runs; the fields named in
    `REQUIRED_WHEN_DEPLOYED` default to empty, filled by `_local_stack()` locally and refused when deployed."""

    model_config = ConfigDict(frozen=True, defer_build=True, validate_by_name=True, validate_by_alias=True)

    # Deployed or not: Lambda's function name (see the module's docstring).
    function_name: str = Field("", validation_alias=DEPLOYED_MARKER)
    # Endpoints are not settings of ours: boto3 reads AWS_ENDPOINT_URL (any other endpoint: moto's server,
    # LocalStack) and AWS_ENDPOINT_URL_<SERVICE> (one service elsewhere) itself.
    region: str = Field("", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"))
    applicants_table: str = ""
    identity_guards_table: str = ""
    counters_table: str = ""
    keyring_table: str = ""
    idempotency_table: str = ""
    waves_table: str = ""
    wave_members_table: str = ""
    families_table: str = ""
    members_table: str = ""
    ledger_table: str = ""
    purchases_table: str = ""
    partners_table: str = ""
    payments_table: str = ""
    results_bucket: str = ""
    publish_queue_url: str = ""
    intake_queue_url: str = ""
    notifications_queue_url: str = ""
    email_codes_queue_url: str = ""  # email codes only, apart from other notices
    nik_check_queue_url: str = ""
    revocation_queue_url: str = ""
    payout_checks_queue_url: str = ""  # payout accounts' inquiries at the payment provider
    payments_queue_url: str = ""
    incentives_queue_url: str = ""  # the daily incentive schedule's shards of members
    pool_parts_queue_url: str = ""  # a closed wave's pool, read in parts by workers
    personal_data_key_id: str = ""
    # The draw seeds' own key; the personal-data key when not given.
    draw_seed_key_id: str = ""
    # The function an admin close runs in (the only one that may open draw seeds); empty: in this process.
    close_function: str = ""
    # Notifications: "outbox" writes each message as a JSON line to `outbox_path` (local); "aws" sends email
    # through SES and SMS through SNS, and also writes the outbox when `outbox_path` is set.
    notifier: Notifier = "aws"
    outbox_path: str = Field("", validation_alias="PRAKERJA_OUTBOX")
    email_sender: str = ""
    # The civil registry (Dukcapil) and how hard we may press it.
    registry_url: str = ""
    registry_timeout_seconds: float = Field(2.0, gt=0)
    registry_retries: int = Field(2, ge=0)
    registry_requests_per_second: float = Field(50.0, gt=0)
    registry_breaker_failures: int = Field(5, ge=1)
    registry_breaker_reset_seconds: float = Field(10.0, gt=0)
    # The payment provider (account inquiries, transfers, its statement) and how hard we may press it. A transfer
    # is never retried blindly (functions.adapters.payment_provider); retries are for its reads.
    payment_provider_url: str = ""
    payment_provider_timeout_seconds: float = Field(5.0, gt=0)
    payment_provider_retries: int = Field(2, ge=0)
    payment_provider_requests_per_second: float = Field(20.0, gt=0)
    payment_provider_breaker_failures: int = Field(5, ge=1)
    payment_provider_breaker_reset_seconds: float = Field(30.0, gt=0)
    # Email codes.
    email_code_ttl_seconds: int = Field(rules.EMAIL_CODE_TTL_SECONDS, ge=60)
    email_code_max_wrong_tries: int = Field(rules.EMAIL_CODE_MAX_WRONG_TRIES, ge=1)
    email_code_resend_interval_seconds: int = Field(rules.EMAIL_CODE_RESEND_INTERVAL_SECONDS, ge=1)
    email_code_resends_per_day: int = Field(rules.EMAIL_CODE_RESENDS_PER_DAY, ge=1)
    mailbox_codes_per_hour: int = Field(rules.MAILBOX_CODES_PER_HOUR, ge=1)
    mailbox_codes_per_day: int = Field(rules.MAILBOX_CODES_PER_DAY, ge=1)
    # Access tokens and the sign-in codes that renew them.
    access_token_days: int = Field(rules.ACCESS_TOKEN_DAYS, ge=1)
    sign_in_code_ttl_seconds: int = Field(rules.SIGN_IN_CODE_TTL_SECONDS, ge=60)
    sign_in_code_max_wrong_tries: int = Field(rules.SIGN_IN_CODE_MAX_WRONG_TRIES, ge=1)
    # Eligibility (defaults from the 2020-21 regulations).
    min_age: int = Field(rules.MIN_AGE, ge=0, le=150)
    max_age: int = Field(rules.MAX_AGE, ge=0, le=150)
    barred_occupations: tuple[str, ...] = rules.BARRED_OCCUPATIONS
    priority_employment: tuple[str, ...] = rules.PRIORITY_EMPLOYMENT
    # Waves and the draw.
    wave_close: str = rules.WAVE_CLOSE  # weekday and time in WIB, e.g. "THU 16:00"
    wave_publish: str = rules.WAVE_PUBLISH
    wave_quota: int = Field(rules.WAVE_QUOTA, ge=0)
    kk_cap: int = Field(rules.KK_CAP, ge=1)
    # '31:1000,32:2500': a province code and the most selected from it per wave.
    province_quotas: tuple[tuple[str, int], ...] = ()
    publish_chunk_size: int = Field(500, ge=1)
    # After acceptance.
    training_balance: int = Field(rules.TRAINING_BALANCE, ge=0)
    first_purchase_days: int = Field(rules.FIRST_PURCHASE_DAYS, ge=1)
    purchase_code_ttl_seconds: int = Field(rules.PURCHASE_CODE_TTL_SECONDS, ge=60)
    purchase_code_max_wrong_tries: int = Field(rules.PURCHASE_CODE_MAX_WRONG_TRIES, ge=1)
    payout_account_code_ttl_seconds: int = Field(rules.PAYOUT_ACCOUNT_CODE_TTL_SECONDS, ge=60)
    payout_account_code_max_wrong_tries: int = Field(rules.PAYOUT_ACCOUNT_CODE_MAX_WRONG_TRIES, ge=1)
    payout_account_codes_per_hour: int = Field(rules.PAYOUT_ACCOUNT_CODES_PER_HOUR, ge=1)
    payout_account_codes_window_seconds: int = Field(rules.PAYOUT_ACCOUNT_CODES_WINDOW_SECONDS, ge=60)
    purchases_awaiting_per_card: int = Field(rules.PURCHASES_AWAITING_PER_CARD, ge=1)
    purchase_codes_per_card: int = Field(rules.PURCHASE_CODES_PER_CARD, ge=1)
    purchase_codes_window_seconds: int = Field(rules.PURCHASE_CODES_WINDOW_SECONDS, ge=60)
    partner_signature_window_seconds: int = Field(rules.PARTNER_SIGNATURE_WINDOW_SECONDS, ge=1)
    review_comment_max_length: int = Field(rules.REVIEW_COMMENT_MAX_LENGTH, ge=1)
    # Members per page when the daily revocation and incentive runs walk a shard of a wave's members.
    cohort_page_size: int = Field(500, ge=1)
    incentive_amount: int = Field(rules.INCENTIVE_AMOUNT, ge=1)
    incentive_count: int = Field(rules.INCENTIVE_COUNT, ge=1)
    incentive_interval_days: int = Field(rules.INCENTIVE_INTERVAL_DAYS, ge=1)
    payout_providers: tuple[str, ...] = rules.PAYOUT_PROVIDERS
    # A public randomness beacon (drand's HTTP API), off when empty.
    beacon_url: str = ""
    beacon_genesis_time: int = Field(1595431050, ge=0)
    beacon_period_seconds: int = Field(30, ge=1)
    # Admin credentials: signed tokens, this long-lived at most.
    admin_token_max_hours: int = Field(12, ge=1)
    # Shards for the funnel counters: spreads the counter writes of a burst over several items.
    counter_shards: int = Field(16, ge=1)
    # The API sheds load (429) rather than wait longer than this on the intake queue.
    intake_send_timeout_seconds: float = Field(1.0, gt=0)
    retry_after_seconds: int = Field(5, ge=1)
    # Brute force: failed bearer tokens per applicant id per window, before 429.
    token_failures_allowed: int = Field(20, ge=1)
    token_failure_window_seconds: int = Field(600, ge=1)
    log_level: LogLevel = Field("INFO", validation_alias="POWERTOOLS_LOG_LEVEL")

    @property
    def deployed(self) -> bool:
        return bool(self.function_name)

    @property
    def wave_calendar(self) -> WaveCalendar:
        return WaveCalendar.parse(self.wave_close, self.wave_publish)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("barred_occupations", "priority_employment", "payout_providers", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _items(value) if isinstance(value, str) else value

    @field_validator("barred_occupations")
    @classmethod
    def _occupation_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(code.upper() for code in value)  # the registry's codes are compared in upper case

    @field_validator("priority_employment")
    @classmethod
    def _employment_statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from functions.domain.registration import EmploymentStatus

        known = {status.value for status in EmploymentStatus}
        unknown = [status for status in value if status not in known]
        if unknown:
            raise ValueError(f"unknown employment status {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return value

    @field_validator("province_quotas", mode="before")
    @classmethod
    def _quotas(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        quotas: dict[str, int] = {}
        for item in _items(value):
            province, colon, quota = (part.strip() for part in item.partition(":"))
            if not (colon and len(province) == 2 and province.isdigit() and quota.isdigit()):
                raise ValueError(f"{item!r} is not PROVINCE:QUOTA, a two-digit province code and a count (31:1000)")
            if province in quotas:
                raise ValueError(f"province {province} is given twice")
            quotas[province] = int(quota)
        return tuple(quotas.items())

    @field_validator("wave_close", "wave_publish")
    @classmethod
    def _weekly_moment(cls, value: str) -> str:
        return str(WeeklyMoment.parse(value))

    @field_validator("registry_url", "payment_provider_url", "beacon_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _draw_seed_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("draw_seed_key_id"):
            return {**data, "draw_seed_key_id": data.get("personal_data_key_id", "")}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.min_age > self.max_age:
            raise ValueError(f"PRAKERJA_MIN_AGE ({self.min_age}) is above PRAKERJA_MAX_AGE ({self.max_age})")
        if self.notifier == "outbox" and not self.outbox_path:
            raise ValueError("PRAKERJA_NOTIFIER is 'outbox' but PRAKERJA_OUTBOX names no file")
        if not self.deployed:
            return self
        if self.notifier != "aws":
            raise ValueError("PRAKERJA_NOTIFIER must be 'aws' in a deployed function: the outbox file reaches nobody")
        packaged = WaveCalendar.regulation_default()
        if self.wave_calendar != packaged:
            raise ValueError(
                f"PRAKERJA_WAVE_CLOSE/PRAKERJA_WAVE_PUBLISH ({self.wave_close} / {self.wave_publish}) differ from "
                f"the calendar the schedules were packaged with ({packaged.close} / {packaged.publish}); change "
                "functions/domain/rules.py and package again"
            )
        return self


def _items(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


# What a deployment must give (template.yaml's Globals, and Lambda's own AWS_REGION): no default when deployed.
REQUIRED_WHEN_DEPLOYED: Final = (
    "region",
    "applicants_table",
    "identity_guards_table",
    "counters_table",
    "keyring_table",
    "idempotency_table",
    "waves_table",
    "wave_members_table",
    "families_table",
    "members_table",
    "ledger_table",
    "purchases_table",
    "partners_table",
    "payments_table",
    "results_bucket",
    "publish_queue_url",
    "intake_queue_url",
    "notifications_queue_url",
    "email_codes_queue_url",
    "nik_check_queue_url",
    "revocation_queue_url",
    "payout_checks_queue_url",
    "payments_queue_url",
    "incentives_queue_url",
    "pool_parts_queue_url",
    "personal_data_key_id",
    "draw_seed_key_id",
    "notifier",
    "email_sender",
    "registry_url",
    "payment_provider_url",
)


def _local_stack() -> dict[str, Any]:
    """The local stack's names for what `template.yaml` creates, and its local services: the defaults when not
    deployed (the local stack and the tests set most of them anyway, from the template, through
    `devstack.provision.function_environment`). Queue URLs have none: moto's are known only once created."""
    return {
        "region": DEFAULT_REGION,
        "applicants_table": "prakerja-applicants",
        "identity_guards_table": "prakerja-identity-guards",
        "counters_table": "prakerja-counters",
        "keyring_table": "prakerja-keyring",
        "idempotency_table": "prakerja-idempotency",
        "waves_table": "prakerja-waves",
        "wave_members_table": "prakerja-wave-members",
        "families_table": "prakerja-families",
        "members_table": "prakerja-members",
        "ledger_table": "prakerja-ledger",
        "purchases_table": "prakerja-purchases",
        "partners_table": "prakerja-partners",
        "payments_table": "prakerja-payments",
        "results_bucket": "prakerja-results",
        "personal_data_key_id": "alias/prakerja-personal-data",
        "notifier": "outbox",
        "outbox_path": str(local_dir() / "outbox.jsonl"),
        "email_sender": "no-reply@prakerja.go.id",
        "registry_url": "http://127.0.0.1:8787",
        "payment_provider_url": "http://127.0.0.1:8788",
    }


def _names(field: str) -> list[str]:
    """The environment variables a field is read from, the first named in errors: 'kk_cap' -> PRAKERJA_KK_CAP."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [alias if isinstance(alias, str) else ENV_PREFIX + field.upper()]


def variable(field: str) -> str:
    """The environment variable a field is read from: 'kk_cap' -> 'PRAKERJA_KK_CAP', 'region' -> 'AWS_REGION'."""
    return _names(field)[0]


def _variables() -> dict[str, str]:
    """Every name a validation error may carry (field names and aliases) -> its environment variable."""
    names = {}
    for field in Settings.model_fields:
        names.update({name: variable(field) for name in [field, *_names(field)]})
    return names


@functools.cache
def _from_environment() -> type[Settings]:
    """`Settings` read from the environment by pydantic-settings (imported here, on first use)."""
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

    class FromEnvironment(BaseSettings, Settings):
        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX,
            case_sensitive=False,
            extra="ignore",
            frozen=True,
            validate_default=True,
            enable_decoding=False,  # lists are comma-separated, as they always were, not JSON
        )

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # The environment first; what the constructor is given (the local stack's defaults) only fills gaps.
            return env_settings, init_settings

    return FromEnvironment


def _problems(error: ValidationError) -> list[str]:
    names = _variables()
    problems = []
    for found in error.errors(include_url=False):
        where = names.get(str(found["loc"][0]), str(found["loc"][0])) if found["loc"] else ""
        message = str(found["msg"]).removeprefix("Value error, ")
        if where:
            given = found.get("input")
            shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
            problems.append(f"{where}: {message}{shown}")
        else:
            problems.append(message)
    return problems


def load() -> Settings:
    """The settings of this process's environment, or one `SettingsError` naming every variable at fault."""
    environ = os.environ
    deployed = bool(environ.get(DEPLOYED_MARKER))
    problems: list[str] = []
    if deployed:
        missing = [
            variable(field)
            for field in REQUIRED_WHEN_DEPLOYED
            if not any(environ.get(name, "").strip() for name in _names(field))
        ]
        if missing:
            problems.append("missing in a deployed function (no local default): " + ", ".join(missing))
        known = {name.upper() for field in Settings.model_fields for name in _names(field)}
        unknown = sorted(name for name in environ if name.upper().startswith(ENV_PREFIX) and name.upper() not in known)
        if unknown:
            problems.append("unknown variables (misspelt?): " + ", ".join(unknown))
    try:
        found = _from_environment()(**({} if deployed else _local_stack()))
    except ValidationError as error:
        problems.extend(_problems(error))
    if problems:
        raise SettingsError(problems)
    return found


@caches.per_process
def settings() -> Settings:
    return load()
