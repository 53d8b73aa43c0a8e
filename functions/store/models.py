"""The tables, as pynamodb models. Table names, region and endpoint are bound from settings on first use."""

from __future__ import annotations

import threading
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.models import Model

from functions.settings import Settings, settings


class ApplicantRecord(Model):
    """One applicant. Personal data lives only inside `personal_data`, sealed with the KMS key."""

    class Meta:
        table_name = "applicants"

    applicant_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    token_hash = UnicodeAttribute()
    personal_data = BinaryAttribute(legacy_encoding=False)
    nik_hash = UnicodeAttribute()
    email_hash = UnicodeAttribute()
    phone_hash = UnicodeAttribute()
    family = UnicodeAttribute()
    nik_last4 = UnicodeAttribute()
    regency_code = UnicodeAttribute()
    province_code = UnicodeAttribute()
    employment_status = UnicodeAttribute()
    declared_social_aid = BooleanAttribute()
    submitted_at = UTCDateTimeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    # The current email code: a keyed hash only, its id, life and wrong tries; when codes were (re)sent.
    email_code_id = UnicodeAttribute(null=True)
    email_code_hash = UnicodeAttribute(null=True)
    email_code_expires_at = UTCDateTimeAttribute(null=True)
    email_code_tries = NumberAttribute(default=0)  # counted before each is compared
    email_code_issued_at = UTCDateTimeAttribute(null=True)
    email_code_resent_at = UnicodeSetAttribute(null=True)  # ISO timestamps of the last day's resends
    email_verified_at = UTCDateTimeAttribute(null=True)
    nik_check_queued_at = UTCDateTimeAttribute(null=True)
    notified = UnicodeSetAttribute(null=True)  # the notifications delivered to this applicant, by id
    # The NIK check and the eligibility decision that follows it.
    nik_checked_at = UTCDateTimeAttribute(null=True)
    social_aid = BooleanAttribute(null=True)  # the registry's answer, which overrides the declared one
    tier = NumberAttribute(null=True)
    # Waves: the wave the applicant is in (or was accepted in), its card, and the previous wave's result.
    wave = NumberAttribute(null=True)
    joined_at = UTCDateTimeAttribute(null=True)
    card_number = UnicodeAttribute(null=True)
    accepted_at = UTCDateTimeAttribute(null=True)
    previous_wave = NumberAttribute(null=True)
    previous_result = UnicodeAttribute(null=True)


class WaveRecord(Model):
    """One wave. Number 0 is the programme's pointer to the wave currently open."""

    class Meta:
        table_name = "waves"

    number = NumberAttribute(hash_key=True)
    state = UnicodeAttribute(null=True)
    current = NumberAttribute(null=True)  # on the pointer only
    opens_at = UTCDateTimeAttribute(null=True)
    closes_at = UTCDateTimeAttribute(null=True)
    publish_at = UTCDateTimeAttribute(null=True)
    closed_at = UTCDateTimeAttribute(null=True)
    published_at = UTCDateTimeAttribute(null=True)
    quota = NumberAttribute(null=True)
    kk_cap = NumberAttribute(null=True)
    province_quotas = UnicodeAttribute(null=True)  # JSON
    commitment = UnicodeAttribute(null=True)
    sealed_seed = BinaryAttribute(legacy_encoding=False, null=True)
    sealed_secret = BinaryAttribute(legacy_encoding=False, null=True)  # the wave secret, never published
    closed_early_by = UnicodeAttribute(null=True)  # an admin's forced close before closes_at: who and why
    closed_early_reason = UnicodeAttribute(null=True)
    seed = UnicodeAttribute(null=True)  # revealed at close
    pool_size = NumberAttribute(null=True)
    pool_digest = UnicodeAttribute(null=True)
    selected_count = NumberAttribute(null=True)
    manifest_key = UnicodeAttribute(null=True)
    ranked_list_key = UnicodeAttribute(null=True)
    chunk_count = NumberAttribute(null=True)
    chunks_queued_at = UTCDateTimeAttribute(null=True)
    chunks_done = NumberSetAttribute(null=True)


class WaveMemberRecord(Model):
    """Membership of a wave's pool, spread over shards: `w<wave>#<shard>`, where the shard is taken from the
    applicant id's leading hex digits, so that reading the shards in order reads the pool sorted by id."""

    class Meta:
        table_name = "wave-members"

    pool = UnicodeAttribute(hash_key=True)
    applicant_id = UnicodeAttribute(range_key=True)
    tier = NumberAttribute()
    province = UnicodeAttribute()
    family = UnicodeAttribute()
    joined_at = UTCDateTimeAttribute()
    carried_over = BooleanAttribute(default=False)


class FamilyRecord(Model):
    """A family card (as its keyed hash) and the applicants of it ever accepted: the KK cap's memory."""

    class Meta:
        table_name = "families"

    family = UnicodeAttribute(hash_key=True)
    accepted = UnicodeSetAttribute(null=True)


class IdentityGuardRecord(Model):
    """Holds one NIK, email or phone (as a keyed hash) for the applicant that claimed it: one account per key.
    The same table keeps the record of each claim an operator released (`release#...`)."""

    class Meta:
        table_name = "identity-guards"

    guard = UnicodeAttribute(hash_key=True)
    applicant_id = UnicodeAttribute()
    claimed_at = UTCDateTimeAttribute(null=True)
    released_by = UnicodeAttribute(null=True)
    release_reason = UnicodeAttribute(null=True)


class CounterRecord(Model):
    """One shard of a funnel counter: `<stage>#<shard>`."""

    class Meta:
        table_name = "counters"

    counter = UnicodeAttribute(hash_key=True)
    total = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)  # epoch seconds, for DynamoDB's TTL (attempt counts only)


class KeyringRecord(Model):
    """A secret generated on first use and kept only sealed by the KMS key (see adapters.personal_data)."""

    class Meta:
        table_name = "keyring"

    name = UnicodeAttribute(hash_key=True)
    sealed = BinaryAttribute(legacy_encoding=False)


_TABLES: dict[type[Model], str] = {
    ApplicantRecord: "applicants_table",
    IdentityGuardRecord: "identity_guards_table",
    CounterRecord: "counters_table",
    KeyringRecord: "keyring_table",
    WaveRecord: "waves_table",
    WaveMemberRecord: "wave_members_table",
    FamilyRecord: "families_table",
}

_bound: Settings | None = None
_bind_lock = threading.Lock()


def bind() -> Settings:
    """Points every model at the configured tables (once per settings object)."""
    global _bound  # noqa: PLW0603 - the binding is process-wide by nature, like pynamodb's own Meta
    current = settings()
    if _bound is current:
        return current
    with _bind_lock:
        for model, setting in _TABLES.items():
            meta: Any = model.Meta
            meta.table_name = getattr(current, setting)
            meta.region = current.region
            meta.host = None  # botocore resolves AWS_ENDPOINT_URL(_DYNAMODB) itself
            model._connection = None
        _bound = current
    return current


_connections: dict[Settings, Connection] = {}


def connection() -> Connection:
    """One pynamodb connection (and so one botocore client, costly to make) per settings object."""
    current = bind()
    found = _connections.get(current)
    if found is None:
        found = _connections[current] = Connection(region=current.region)
    return found
