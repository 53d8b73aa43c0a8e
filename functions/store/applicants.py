"""Applicants and the guards that keep one account per NIK, email and phone."""

from __future__ import annotations

import datetime as dt
import random
import time
import zlib
from dataclasses import dataclass
from enum import Enum

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from functions.domain.intake import IntakeMessage
from functions.domain.lifecycle import UNIQUE_KEYS, FunnelStage, Status, duplicate_reason
from functions.store.models import ApplicantRecord, CounterRecord, IdentityGuardRecord, bind, connection

# A transaction that meets another on the same counter shard is cancelled; these retries absorb that.
_CONFLICT_RETRIES = 5


def guard_key(kind: str, keyed_hash: str) -> str:
    return f"{kind}#{keyed_hash}"


def counter_key(stage: FunnelStage, applicant_id: str, shards: int) -> str:
    return f"{stage.value}#{zlib.crc32(applicant_id.encode()) % shards}"


def held_identity_keys(hashes: dict[str, str]) -> list[str]:
    """Which of the identity keys (in reporting order) another account already holds."""
    bind()
    keys = [guard_key(kind, hashes[kind]) for kind in UNIQUE_KEYS]
    held = {record.guard for record in IdentityGuardRecord.batch_get(keys)}
    return [kind for kind, key in zip(UNIQUE_KEYS, keys, strict=True) if key in held]


class Outcome(Enum):
    STORED = "stored"
    ALREADY_STORED = "already_stored"
    REJECTED = "rejected"


@dataclass(frozen=True)
class IntakeResult:
    outcome: Outcome
    reason: str | None = None


def _new_record(message: IntakeMessage, sealed: bytes, status: Status, now: dt.datetime) -> ApplicantRecord:
    return ApplicantRecord(
        applicant_id=message.applicant_id,
        status=status.value,
        token_hash=message.token_hash,
        personal_data=sealed,
        nik_hash=message.nik_hash,
        email_hash=message.email_hash,
        phone_hash=message.phone_hash,
        family=message.family,
        nik_last4=message.nik_last4,
        regency_code=message.regency_code,
        province_code=message.regency_code[:2],
        employment_status=message.employment_status.value,
        declared_social_aid=message.declared_social_aid,
        submitted_at=message.submitted_at,
        created_at=now,
        updated_at=now,
    )


def _reason_codes(error: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in (error.cancellation_reasons or [])]


def store_registration(message: IntakeMessage, sealed: bytes, now: dt.datetime, counter_shards: int) -> IntakeResult:
    """Writes the applicant and its identity guards in one conditional transaction.

    A redelivered message finds its applicant already there and changes nothing. A message whose NIK, email or
    phone another account took first (two submissions that raced past the API's check) is kept as REJECTED with
    the reason, so its submitter can read why.
    """
    bind()
    hashes = message.identity_hashes()
    for attempt in range(_CONFLICT_RETRIES):
        try:
            with TransactWrite(connection=connection()) as transaction:
                transaction.save(
                    _new_record(message, sealed, Status.REGISTERED, now),
                    condition=ApplicantRecord.applicant_id.does_not_exist(),
                )
                for kind in UNIQUE_KEYS:
                    transaction.save(
                        IdentityGuardRecord(guard=guard_key(kind, hashes[kind]), applicant_id=message.applicant_id),
                        condition=IdentityGuardRecord.guard.does_not_exist(),
                    )
                transaction.update(
                    CounterRecord(counter=counter_key(FunnelStage.REGISTERED, message.applicant_id, counter_shards)),
                    actions=[CounterRecord.total.add(1)],
                )
            return IntakeResult(Outcome.STORED)
        except TransactWriteError as error:
            codes = _reason_codes(error)
            if not codes:
                raise
            if codes[0] == "ConditionalCheckFailed":
                return IntakeResult(Outcome.ALREADY_STORED)
            clashes = [
                kind for kind, code in zip(UNIQUE_KEYS, codes[1:4], strict=True) if code == "ConditionalCheckFailed"
            ]
            if clashes:
                return _store_rejection(message, sealed, now, duplicate_reason(clashes[0]).value)
            if "TransactionConflict" not in codes or attempt == _CONFLICT_RETRIES - 1:
                raise
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")


def _store_rejection(message: IntakeMessage, sealed: bytes, now: dt.datetime, reason: str) -> IntakeResult:
    record = _new_record(message, sealed, Status.REJECTED, now)
    record.reason = reason
    try:
        record.save(condition=ApplicantRecord.applicant_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return IntakeResult(Outcome.ALREADY_STORED)
    return IntakeResult(Outcome.REJECTED, reason)


def find(applicant_id: str) -> ApplicantRecord | None:
    bind()
    try:
        return ApplicantRecord.get(applicant_id, consistent_read=True)
    except DoesNotExist:
        return None
