"""The tables, as pynamodb models. Table names, region and endpoint are bound from settings on first use."""

from __future__ import annotations

import threading
import zlib
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from functions.settings import Settings, settings


class ApplicantRecord(Model):
    """One applicant. Personal data lives only inside `personal_data`, sealed with the KMS key."""

    class Meta:
        table_name = "applicants"

    applicant_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
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
    # The current code sealed to its applicant until the code consumer sends it, then when it was sent.
    email_code_sealed = UnicodeAttribute(null=True)
    email_code_sent_at = UTCDateTimeAttribute(null=True)
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
    # Access (`domain.access`): the generation of access tokens still admitted, moved on when the applicant ends
    # them all (and when); the current sign-in code as a keyed hash, its id, life and tries.
    token_generation = NumberAttribute(null=True)
    tokens_ended_at = UTCDateTimeAttribute(null=True)
    sign_in_code_id = UnicodeAttribute(null=True)
    sign_in_code_hash = UnicodeAttribute(null=True)
    sign_in_code_issued_at = UTCDateTimeAttribute(null=True)
    sign_in_code_expires_at = UTCDateTimeAttribute(null=True)
    sign_in_code_tries = NumberAttribute(null=True)  # counted before each is compared


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
    revocations_queued_at = UTCDateTimeAttribute(null=True)  # the members' revocation sweep, once each wave
    parts_queued_at = UTCDateTimeAttribute(null=True)  # the closed pool's parts handed to the workers
    parts_done = UnicodeSetAttribute(null=True)  # the pool parts written (`pool_parts.Part.name`)


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


def pool_key(wave: int, shard: int) -> str:
    """A wave's pool shard: `w<wave>#<shard>`."""
    return f"w{wave}#{shard:02d}"


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


# The identity-guards table's item kinds: one guard per claimed key, and the record of each release.
def identity_guard_key(kind: str, keyed_hash: str) -> str:
    """A NIK, email or phone claimed by one applicant: `<kind>#<keyed hash>`."""
    return f"{kind}#{keyed_hash}"


def card_guard_key(card_number: str) -> str:
    """A card number held by one member."""
    return f"card#{card_number}"


def voucher_guard_key(voucher_code: str) -> str:
    """A partner's voucher code redeemed once."""
    return f"voucher#{voucher_code}"


def release_key(nik_hash: str, at: str) -> str:
    """An operator's release of a NIK claim, at an ISO moment (a NIK may be released more than once)."""
    return f"release#{nik_hash}#{at}"


class CounterRecord(Model):
    """One shard of a funnel counter: `<stage>#<shard>`."""

    class Meta:
        table_name = "counters"

    counter = UnicodeAttribute(hash_key=True)
    total = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)  # epoch seconds, for DynamoDB's TTL (attempt counts and slots only)
    holder = UnicodeAttribute(null=True)  # on a slot (`<kind>#<hash>#slot<n>`): what holds it until `expires_at`


# The counters table's item kinds (the mailboxes below live there too). A sharded counter spreads its writes over
# `counter_shards` items, the shard taken from the applicant id.
def counter_shard(applicant_id: str) -> int:
    return zlib.crc32(applicant_id.encode()) % bind().counter_shards


def funnel_counter_key(stage: str, shard: int) -> str:
    return f"{stage}#{shard}"


def ledger_counter_key(kind: str, shard: int) -> str:
    return f"ledger:{kind}#{shard}"


def refill_counter_key(wave: int, shard: int) -> str:
    return f"refill:w{wave}#{shard}"


def attempts_key(kind: str, subject_hash: str, window: int) -> str:
    """Failed attempts of one kind against one subject in one time window (`store.throttle`)."""
    return f"{kind}#{subject_hash}#{window}"


def slot_key(kind: str, subject_hash: str, index: int) -> str:
    """One of a subject's slots of one kind (`store.throttle`)."""
    return f"{kind}#{subject_hash}#slot{index}"


class MailboxRecord(Model):
    """One mailbox's email code and the code emails it was sent (`mailbox#<email lookup hash>`, never the address),
    kept with the counters: the per-mailbox limits (`services.email_codes`). Gone through the TTL a day after its
    last email or code."""

    class Meta:
        table_name = "counters"

    counter = UnicodeAttribute(hash_key=True)
    code_id = UnicodeAttribute(null=True)
    code_hash = UnicodeAttribute(null=True)
    code_issued_at = UTCDateTimeAttribute(null=True)
    code_expires_at = UTCDateTimeAttribute(null=True)
    code_sealed = UnicodeAttribute(null=True)  # sealed to the mailbox, so that it can be sent again while it lives
    sent_at: ListAttribute[str] = ListAttribute(null=True)  # ISO timestamps of the last day's code emails
    version = NumberAttribute(default=0)
    expires_at = NumberAttribute(null=True)  # epoch seconds, for DynamoDB's TTL


def mailbox_key(lookup_hash: str) -> str:
    return f"mailbox#{lookup_hash}"


class KeyringRecord(Model):
    """A secret generated on first use and kept only sealed by the KMS key (see adapters.personal_data)."""

    class Meta:
        table_name = "keyring"

    name = UnicodeAttribute(hash_key=True)
    sealed = BinaryAttribute(legacy_encoding=False)


class MemberCohortIndex(GlobalSecondaryIndex["MemberRecord"]):  # type: ignore[no-untyped-call]
    """The members accepted in a wave, by shard (`w<wave>#<shard>`): what the revocation fan-out reads."""

    class Meta:
        index_name = "by-cohort"
        projection = AllProjection()

    cohort = UnicodeAttribute(hash_key=True)
    applicant_id = UnicodeAttribute(range_key=True)


def cohort_key(wave: int, shard: int) -> str:
    return f"w{wave}#{shard:02d}"


class MemberRecord(Model):
    """One member (an accepted applicant): membership state, training balance and the sums of its ledger entries,
    each changed in the same transaction as the entry that moves it."""

    class Meta:
        table_name = "members"

    applicant_id = UnicodeAttribute(hash_key=True)
    card_number = UnicodeAttribute()
    wave = NumberAttribute()
    cohort = UnicodeAttribute()
    by_cohort = MemberCohortIndex()
    state = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    granted = NumberAttribute(default=0)
    balance = NumberAttribute(default=0)
    purchased = NumberAttribute(default=0)
    refunded = NumberAttribute(default=0)
    returned = NumberAttribute(default=0)
    accepted_at = UTCDateTimeAttribute()
    first_purchase_deadline = UTCDateTimeAttribute()
    live_purchases = NumberAttribute(default=0)  # confirmed or completed and not cancelled
    first_purchase_at = UTCDateTimeAttribute(null=True)
    first_completed_at = UTCDateTimeAttribute(null=True)
    first_reviewed_at = UTCDateTimeAttribute(null=True)
    revoked_at = UTCDateTimeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)
    revoked_note = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    # The payout account: sealed number, its last 4 digits, the provider's verdict; the payment in flight, if any
    # (the account cannot change under it).
    payout_provider = UnicodeAttribute(null=True)
    payout_account_sealed = UnicodeAttribute(null=True)
    payout_account_last4 = UnicodeAttribute(null=True)
    payout_status = UnicodeAttribute(null=True)
    payout_reason = UnicodeAttribute(null=True)
    payout_check_id = UnicodeAttribute(null=True)  # the inquiry queued for the account as it is now
    payout_account_hash = UnicodeAttribute(null=True)  # keyed hash of provider and number: what reconciliation sees
    # The one-time code a change of account needs: its keyed hash, sealed until sent, tries counted before compared
    payout_code_id = UnicodeAttribute(null=True)
    payout_code_hash = UnicodeAttribute(null=True)
    payout_code_sealed = UnicodeAttribute(null=True)
    payout_code_issued_at = UTCDateTimeAttribute(null=True)
    payout_code_expires_at = UTCDateTimeAttribute(null=True)
    payout_code_sent_at = UTCDateTimeAttribute(null=True)
    payout_code_tries = NumberAttribute(null=True)
    payout_verified_at = UTCDateTimeAttribute(null=True)
    first_account_verified_at = UTCDateTimeAttribute(null=True)  # kept through changes: the funnel counts it once
    payment_in_flight = UnicodeAttribute(null=True)
    incentives_settled = NumberAttribute(default=0)
    last_incentive_due_at = UTCDateTimeAttribute(null=True)  # when the last incentive paid fell due


class LedgerEntryRecord(Model):
    """One movement of money, append-only: keyed by its member and its idempotent reference."""

    class Meta:
        table_name = "ledger"

    applicant_id = UnicodeAttribute(hash_key=True)
    ref = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    amount = NumberAttribute()
    at = UTCDateTimeAttribute()


class PurchasesByMemberIndex(GlobalSecondaryIndex["PurchaseRecord"]):  # type: ignore[no-untyped-call]
    """A member's purchases, for the applicant's view."""

    class Meta:
        index_name = "by-member"
        projection = AllProjection()

    applicant_id = UnicodeAttribute(hash_key=True)
    purchase_id = UnicodeAttribute(range_key=True)


class PurchaseRecord(Model):
    """One training a partner bought for a member; the consent code only as a keyed hash."""

    class Meta:
        table_name = "purchases"

    purchase_id = UnicodeAttribute(hash_key=True)
    applicant_id = UnicodeAttribute(null=True)  # null on the purchase-reference items (PurchaseRefRecord)
    by_member = PurchasesByMemberIndex()
    partner_id = UnicodeAttribute(null=True)
    purchase_ref = UnicodeAttribute(null=True)
    course_id = UnicodeAttribute(null=True)
    course_title = UnicodeAttribute(null=True)
    price = NumberAttribute(null=True)
    minimum_hours = NumberAttribute(null=True)  # the course's as listed when bought
    status = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)
    code_hash = UnicodeAttribute(null=True)
    code_sealed = UnicodeAttribute(null=True)  # the code sealed to its purchase until it is sent
    code_sent_at = UTCDateTimeAttribute(null=True)
    code_expires_at = UTCDateTimeAttribute(null=True)
    code_tries = NumberAttribute(default=0)
    voucher_code = UnicodeAttribute(null=True)
    balance_after = NumberAttribute(null=True)
    confirmed_at = UTCDateTimeAttribute(null=True)
    cancelled_at = UTCDateTimeAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    certificate_id = UnicodeAttribute(null=True)
    rating = NumberAttribute(null=True)
    comment = UnicodeAttribute(null=True)
    reviewed_at = UTCDateTimeAttribute(null=True)
    # On a `ref#<partner>#<purchase_ref>` item: the purchase it made; on `certificate#<partner>#<certificate_id>`:
    # the purchase the certificate was reported for.
    points_to = UnicodeAttribute(null=True)


# The purchases table's other item kinds: a partner's purchase reference (its repeats find the purchase) and a
# completion's certificate (used once per partner).
def purchase_ref_key(partner_id: str, purchase_ref: str) -> str:
    return f"ref#{partner_id}#{purchase_ref}"


def certificate_key(partner_id: str, certificate_id: str) -> str:
    return f"certificate#{partner_id}#{certificate_id}"


class PaymentsByPaidDayIndex(GlobalSecondaryIndex["PaymentRecord"]):  # type: ignore[no-untyped-call]
    """Our PAID payments by the WIB day they were paid: what the daily reconciliation compares."""

    class Meta:
        index_name = "by-paid-day"
        projection = AllProjection()

    paid_day = UnicodeAttribute(hash_key=True)
    payment_id = UnicodeAttribute(range_key=True)


class PaymentsByMemberIndex(GlobalSecondaryIndex["PaymentRecord"]):  # type: ignore[no-untyped-call]
    """A member's incentive payments, for the applicant's view."""

    class Meta:
        index_name = "by-member"
        projection = AllProjection()

    applicant_id = UnicodeAttribute(hash_key=True)
    number = NumberAttribute(range_key=True)


class PaymentRecord(Model):
    """One incentive payment (id fixed by member and number: the provider's idempotency key). The same table keeps
    each day's reconciliation (`reconciliation#<day>`) and a copy of the newest one (`reconciliation#latest`)."""

    class Meta:
        table_name = "payments"

    payment_id = UnicodeAttribute(hash_key=True)
    applicant_id = UnicodeAttribute(null=True)
    by_member = PaymentsByMemberIndex()
    number = NumberAttribute(null=True)
    amount = NumberAttribute(null=True)
    status = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    due_at = UTCDateTimeAttribute(null=True)
    attempt = NumberAttribute(null=True)  # 1, and one more each time a FAILED payment is queued again
    queued_at = UTCDateTimeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    paid_at = UTCDateTimeAttribute(null=True)
    paid_day = UnicodeAttribute(null=True)
    by_paid_day = PaymentsByPaidDayIndex()
    account_check_id = UnicodeAttribute(null=True)  # the verified payout account it is for (its check's id)
    account_hash = UnicodeAttribute(null=True)  # and that account's keyed hash
    updated_at = UTCDateTimeAttribute(null=True)
    report = UnicodeAttribute(null=True)  # a reconciliation's differences, as JSON
    reconciled_day = UnicodeAttribute(null=True)  # the WIB day a reconciliation covers (ISO)


# The payments table's other item kind: each day's reconciliation, and a copy of the newest.
RECONCILIATION_PREFIX = "reconciliation#"
LATEST_RECONCILIATION = f"{RECONCILIATION_PREFIX}latest"


def reconciliation_key(day: str) -> str:
    """The reconciliation of an ISO day."""
    return f"{RECONCILIATION_PREFIX}{day}"


class PartnerRecord(Model):
    """A training partner and its signing secret, sealed under the personal-data key. The same table keeps each
    signature seen within the replay window (`seen#<hash>`, expiring) and the partners' catalogues
    (`course#<partner>#<course_id>`)."""

    class Meta:
        table_name = "partners"

    partner_id = UnicodeAttribute(hash_key=True)
    display_name = UnicodeAttribute(null=True)
    sealed_secret = BinaryAttribute(legacy_encoding=False, null=True)
    created_at = UTCDateTimeAttribute(null=True)
    rotated_at = UTCDateTimeAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # epoch seconds, DynamoDB's TTL (seen signatures only)
    title = UnicodeAttribute(null=True)  # a course's
    price = NumberAttribute(null=True)
    minimum_hours = NumberAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


# The partners table's other item kinds: a signature seen within the replay window, and a catalogue's course.
def seen_key(replay_key: str) -> str:
    return f"seen#{replay_key}"


def course_key(partner_id: str, course_id: str) -> str:
    return f"course#{partner_id}#{course_id}"


_TABLES: dict[type[Model], str] = {
    ApplicantRecord: "applicants_table",
    IdentityGuardRecord: "identity_guards_table",
    CounterRecord: "counters_table",
    MailboxRecord: "counters_table",
    KeyringRecord: "keyring_table",
    WaveRecord: "waves_table",
    WaveMemberRecord: "wave_members_table",
    FamilyRecord: "families_table",
    MemberRecord: "members_table",
    LedgerEntryRecord: "ledger_table",
    PurchaseRecord: "purchases_table",
    PartnerRecord: "partners_table",
    PaymentRecord: "payments_table",
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
