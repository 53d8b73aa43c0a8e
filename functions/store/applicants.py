"""Applicants and the guards that keep one account per NIK, email and phone.

Every status change is a conditional write from the status it expects, in one transaction with the funnel
counters it moves, so a redelivered message or a repeated request changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from functions.domain.intake import IntakeMessage
from functions.domain.lifecycle import UNIQUE_KEYS, FunnelStage, Status, duplicate_reason
from functions.store.models import ApplicantRecord, CounterRecord, IdentityGuardRecord, bind, connection

# A transaction that meets another on the same counter shard is cancelled; these retries absorb that.
_CONFLICT_RETRIES = 5
_CONDITION_FAILED = "ConditionalCheckFailed"


def guard_key(kind: str, keyed_hash: str) -> str:
    return f"{kind}#{keyed_hash}"


def counter_key(stage: FunnelStage, applicant_id: str, shards: int) -> str:
    return f"{stage.value}#{zlib.crc32(applicant_id.encode()) % shards}"


def held_identity_keys(hashes: dict[str, str], applicant_id: str | None = None) -> list[str]:
    """Which of the identity keys (in reporting order) an account other than `applicant_id` already holds."""
    bind()
    keys = [guard_key(kind, hashes[kind]) for kind in UNIQUE_KEYS]
    held = {record.guard for record in IdentityGuardRecord.batch_get(keys) if record.applicant_id != applicant_id}
    return [kind for kind, key in zip(UNIQUE_KEYS, keys, strict=True) if key in held]


def funnel_totals(stages: Iterable[FunnelStage], shards: int) -> dict[FunnelStage, int]:
    bind()
    wanted = list(stages)
    keys = [f"{stage.value}#{shard}" for stage in wanted for shard in range(shards)]
    totals = dict.fromkeys(wanted, 0)
    for record in CounterRecord.batch_get(keys):
        totals[FunnelStage(record.counter.split("#", 1)[0])] += int(record.total)
    return totals


def _reason_codes(error: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in (error.cancellation_reasons or [])]


def transact(build: Callable[[TransactWrite], None]) -> list[str | None]:
    """Runs a transaction, retrying only conflicts with concurrent ones; returns [] or the cancellation codes."""
    for attempt in range(_CONFLICT_RETRIES):
        try:
            with TransactWrite(connection=connection()) as transaction:
                build(transaction)
            return []
        except TransactWriteError as error:
            codes = _reason_codes(error)
            if not codes:
                raise
            if "TransactionConflict" not in codes or attempt == _CONFLICT_RETRIES - 1:
                return codes
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")


def _count(transaction: TransactWrite, stages: Sequence[FunnelStage], applicant_id: str, shards: int) -> None:
    for stage in stages:
        transaction.update(
            CounterRecord(counter=counter_key(stage, applicant_id, shards)), actions=[CounterRecord.total.add(1)]
        )


# --- intake --------------------------------------------------------------------------------------------------


class Outcome(Enum):
    STORED = "stored"
    ALREADY_STORED = "already_stored"
    REJECTED = "rejected"


@dataclass(frozen=True)
class IntakeResult:
    outcome: Outcome
    reason: str | None = None


@dataclass(frozen=True)
class IssuedCode:
    """An email code as stored: never the code itself."""

    code_id: str
    code_hash: str
    issued_at: dt.datetime
    expires_at: dt.datetime


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


def store_registration(
    message: IntakeMessage, sealed: bytes, code: IssuedCode, now: dt.datetime, counter_shards: int
) -> IntakeResult:
    """Writes the applicant (with its first email code) and its identity guards in one conditional transaction.

    A redelivered message finds its applicant already there and changes nothing. A message whose NIK, email or
    phone another account took first (two submissions that raced past the API's check) is kept as REJECTED with
    the reason, so its submitter can read why.
    """
    bind()
    hashes = message.identity_hashes()
    record = _new_record(message, sealed, Status.REGISTERED, now)
    record.email_code_id = code.code_id
    record.email_code_hash = code.code_hash
    record.email_code_issued_at = code.issued_at
    record.email_code_expires_at = code.expires_at

    def build(transaction: TransactWrite) -> None:
        transaction.save(record, condition=ApplicantRecord.applicant_id.does_not_exist())
        for kind in UNIQUE_KEYS:
            transaction.save(
                IdentityGuardRecord(guard=guard_key(kind, hashes[kind]), applicant_id=message.applicant_id),
                condition=IdentityGuardRecord.guard.does_not_exist(),
            )
        _count(transaction, [FunnelStage.REGISTERED], message.applicant_id, counter_shards)

    codes = transact(build)
    if not codes:
        return IntakeResult(Outcome.STORED)
    if codes[0] == _CONDITION_FAILED:
        return IntakeResult(Outcome.ALREADY_STORED)
    clashes = [kind for kind, code_ in zip(UNIQUE_KEYS, codes[1:4], strict=True) if code_ == _CONDITION_FAILED]
    if not clashes:
        raise RuntimeError(f"registration transaction cancelled: {codes}")
    return _store_rejection(message, sealed, now, duplicate_reason(clashes[0]).value)


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


def find_many(applicant_ids: Iterable[str]) -> dict[str, ApplicantRecord]:
    """The stored ones among `applicant_ids`, by id, read in one consistent BatchGetItem (per 100 ids)."""
    bind()
    return {
        record.applicant_id: record for record in ApplicantRecord.batch_get(set(applicant_ids), consistent_read=True)
    }


# --- status changes ------------------------------------------------------------------------------------------


def transition(
    applicant_id: str,
    expected: Status | Sequence[Status],
    actions: Sequence[Action],
    *,
    now: dt.datetime,
    counted: Sequence[FunnelStage] = (),
    counter_shards: int = 1,
    condition: Condition | None = None,
    also: Callable[[TransactWrite], None] | None = None,
) -> bool:
    """Applies `actions` if the applicant is still in the expected status (and `condition` holds), counting the
    funnel stages it reaches, and doing `also`'s writes, in the same transaction. False when a condition failed
    (the applicant had already moved on, or one of `also`'s conditions did not hold)."""
    bind()
    statuses = [expected] if isinstance(expected, Status) else list(expected)
    guard = ApplicantRecord.status.is_in(*[status.value for status in statuses])
    if condition is not None:
        guard = guard & condition
    key = ApplicantRecord(applicant_id=applicant_id)

    def build(transaction: TransactWrite) -> None:
        transaction.update(key, actions=[*actions, ApplicantRecord.updated_at.set(now)], condition=guard)
        _count(transaction, counted, applicant_id, counter_shards)
        if also is not None:
            also(transaction)

    codes = transact(build)
    if not codes:
        return True
    if _CONDITION_FAILED in codes:
        return False
    raise RuntimeError(f"status transaction cancelled: {codes}")


def _update_if(applicant_id: str, actions: Sequence[Action], condition: Condition) -> ApplicantRecord | None:
    """A single conditional update; the updated record, or None when the condition no longer held."""
    bind()
    record = ApplicantRecord(applicant_id=applicant_id)
    try:
        record.update(actions=list(actions), condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return record


# --- email codes ---------------------------------------------------------------------------------------------


def count_wrong_code(applicant_id: str, code_id: str) -> int | None:
    """Adds one wrong try to the current code atomically; the new count (None if the code was replaced)."""
    record = _update_if(
        applicant_id,
        [ApplicantRecord.email_code_wrong_tries.add(1)],
        ApplicantRecord.email_code_id == code_id,
    )
    return None if record is None else int(record.email_code_wrong_tries)


def replace_email_code(applicant_id: str, old_code_id: str | None, code: IssuedCode, resent_at: list[str]) -> bool:
    """A new code for an applicant still waiting to verify its email, unless another request replaced it first."""
    same_code: Any = (
        ApplicantRecord.email_code_id.does_not_exist()
        if old_code_id is None
        else ApplicantRecord.email_code_id == old_code_id
    )
    record = _update_if(
        applicant_id,
        [
            ApplicantRecord.email_code_id.set(code.code_id),
            ApplicantRecord.email_code_hash.set(code.code_hash),
            ApplicantRecord.email_code_issued_at.set(code.issued_at),
            ApplicantRecord.email_code_expires_at.set(code.expires_at),
            ApplicantRecord.email_code_wrong_tries.set(0),
            ApplicantRecord.email_code_resent_at.set(set(resent_at))
            if resent_at
            else ApplicantRecord.email_code_resent_at.remove(),
            ApplicantRecord.updated_at.set(code.issued_at),
        ],
        (ApplicantRecord.status == Status.REGISTERED.value) & same_code,
    )
    return record is not None


def mark_notified(applicant_id: str, notification_id: str) -> None:
    bind()
    ApplicantRecord(applicant_id=applicant_id).update(actions=[ApplicantRecord.notified.add({notification_id})])
