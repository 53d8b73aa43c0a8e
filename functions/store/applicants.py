"""Applicants and the guards that keep one account per NIK, email and phone.

Each status change is one event of the lifecycle's transition table (`functions.domain.lifecycle.TRANSITIONS`),
applied by `change`: a conditional write from the event's source statuses, in one transaction with the funnel
counters it moves, so a redelivered message or a repeated request changes nothing the second time. What callers
get back are `Applicant` values, never the table's records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from functions.domain.eligibility import Decision
from functions.domain.email_code import IssuedCode
from functions.domain.lifecycle import (
    REGISTRY_DECISIONS,
    TRANSITIONS,
    UNIQUE_KEYS,
    Applicant,
    Event,
    Status,
    duplicate_reason,
    path,
)
from functions.domain.messages import IntakeMessage
from functions.store import funnel
from functions.store.models import ApplicantRecord, IdentityGuardRecord, bind
from functions.store.transactions import CONDITION_FAILED, Build, committed, transact, update_if


def guard_key(kind: str, keyed_hash: str) -> str:
    return f"{kind}#{keyed_hash}"


def held_identity_keys(hashes: dict[str, str], applicant_id: str | None = None) -> list[str]:
    """Which of the identity keys (in reporting order) an account other than `applicant_id` already holds."""
    bind()
    keys = [guard_key(kind, hashes[kind]) for kind in UNIQUE_KEYS]
    held = {record.guard for record in IdentityGuardRecord.batch_get(keys) if record.applicant_id != applicant_id}
    return [kind for kind, key in zip(UNIQUE_KEYS, keys, strict=True) if key in held]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _entity(record: ApplicantRecord) -> Applicant:
    code = (
        IssuedCode(
            record.email_code_id, record.email_code_hash, record.email_code_issued_at, record.email_code_expires_at
        )
        if record.email_code_id and record.email_code_hash and record.email_code_expires_at
        else None
    )
    return Applicant(
        applicant_id=record.applicant_id,
        status=Status(record.status),
        reason=record.reason,
        token_hash=record.token_hash,
        personal_data=record.personal_data,
        nik_hash=record.nik_hash,
        email_hash=record.email_hash,
        phone_hash=record.phone_hash,
        family=record.family,
        nik_last4=record.nik_last4,
        regency_code=record.regency_code,
        province_code=record.province_code,
        employment_status=record.employment_status,
        declared_social_aid=bool(record.declared_social_aid),
        submitted_at=record.submitted_at,
        created_at=record.created_at,
        updated_at=record.updated_at,
        email_code=code,
        email_code_wrong_tries=int(record.email_code_wrong_tries or 0),
        email_code_resent_at=tuple(sorted(dt.datetime.fromisoformat(t) for t in record.email_code_resent_at or ())),
        email_verified_at=record.email_verified_at,
        notified=frozenset(record.notified or ()),
        nik_checked_at=record.nik_checked_at,
        social_aid=record.social_aid,
        tier=_int(record.tier),
        wave=_int(record.wave),
        joined_at=record.joined_at,
        card_number=record.card_number,
        accepted_at=record.accepted_at,
        previous_wave=_int(record.previous_wave),
        previous_result=record.previous_result,
    )


def find(applicant_id: str) -> Applicant | None:
    bind()
    try:
        return _entity(ApplicantRecord.get(applicant_id, consistent_read=True))
    except DoesNotExist:
        return None


def find_many(applicant_ids: Iterable[str]) -> dict[str, Applicant]:
    """The stored ones among `applicant_ids`, by id, read in one consistent BatchGetItem (per 100 ids)."""
    bind()
    return {
        record.applicant_id: _entity(record)
        for record in ApplicantRecord.batch_get(set(applicant_ids), consistent_read=True)
    }


# --- the one way a stored applicant's status changes ------------------------------------------------------------


def change(
    event: Event | tuple[Event, ...],
    applicant_id: str,
    actions: Sequence[Action],
    *,
    now: dt.datetime,
    condition: Condition | None = None,
    also: Build | None = None,
) -> bool:
    """Applies `event` (or events in a row, `lifecycle.path`) to the applicant if it is in one of the source
    statuses (and `condition` holds): the target status and `actions`, the funnel stages it reaches, and `also`'s
    writes, in one transaction. False when a condition failed (the applicant had moved on, or one of `also`'s
    conditions did not hold)."""
    bind()
    transition = path(*event) if isinstance(event, tuple) else TRANSITIONS[event]
    guard = ApplicantRecord.status.is_in(*sorted(transition.sources))
    if condition is not None:
        guard = guard & condition

    def update(transaction: TransactWrite) -> None:
        transaction.update(
            ApplicantRecord(applicant_id=applicant_id),
            actions=[
                ApplicantRecord.status.set(transition.target.value),
                *actions,
                ApplicantRecord.updated_at.set(now),
            ],
            condition=guard,
        )

    return committed(transact(update, funnel.count(transition.counted, applicant_id), also), "status")


# --- registration -----------------------------------------------------------------------------------------------


class Outcome(Enum):
    STORED = "stored"
    ALREADY_STORED = "already_stored"
    REJECTED = "rejected"


@dataclass(frozen=True)
class IntakeResult:
    outcome: Outcome
    reason: str | None = None


def _new_record(message: IntakeMessage, sealed: bytes, event: Event, now: dt.datetime) -> ApplicantRecord:
    return ApplicantRecord(
        applicant_id=message.applicant_id,
        status=TRANSITIONS[event].target.value,
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


def register(message: IntakeMessage, sealed: bytes, code: IssuedCode, now: dt.datetime) -> IntakeResult:
    """Stores the applicant (with its first email code) and its identity guards in one conditional transaction.

    A redelivered message finds its applicant already there and changes nothing. A message whose NIK, email or
    phone another account took first (two submissions that raced past the API's check) is kept as REJECTED with
    the reason, so its submitter can read why.
    """
    bind()
    hashes = message.identity_hashes()
    record = _new_record(message, sealed, Event.REGISTER, now)
    record.email_code_id = code.code_id
    record.email_code_hash = code.code_hash
    record.email_code_issued_at = code.issued_at
    record.email_code_expires_at = code.expires_at

    def store(transaction: TransactWrite) -> None:
        transaction.save(record, condition=ApplicantRecord.applicant_id.does_not_exist())
        for kind in UNIQUE_KEYS:
            transaction.save(
                IdentityGuardRecord(guard=guard_key(kind, hashes[kind]), applicant_id=message.applicant_id),
                condition=IdentityGuardRecord.guard.does_not_exist(),
            )

    codes = transact(store, funnel.count(TRANSITIONS[Event.REGISTER].counted, message.applicant_id))
    if not codes:
        return IntakeResult(Outcome.STORED)
    if codes[0] == CONDITION_FAILED:
        return IntakeResult(Outcome.ALREADY_STORED)
    clashes = [kind for kind, code_ in zip(UNIQUE_KEYS, codes[1:4], strict=True) if code_ == CONDITION_FAILED]
    if not clashes:
        raise RuntimeError(f"registration transaction cancelled: {codes}")
    return _refuse_as_duplicate(message, sealed, now, duplicate_reason(clashes[0]).value)


def _refuse_as_duplicate(message: IntakeMessage, sealed: bytes, now: dt.datetime, reason: str) -> IntakeResult:
    record = _new_record(message, sealed, Event.REFUSE_AS_DUPLICATE, now)
    record.reason = reason
    try:
        record.save(condition=ApplicantRecord.applicant_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return IntakeResult(Outcome.ALREADY_STORED)
    return IntakeResult(Outcome.REJECTED, reason)


# --- email codes and verification ----------------------------------------------------------------------------


def verify_email(applicant_id: str, code_id: str, now: dt.datetime) -> bool:
    """REGISTERED -> EMAIL_VERIFIED, if the code verified is still the applicant's current one."""
    return change(
        Event.VERIFY_EMAIL,
        applicant_id,
        [ApplicantRecord.email_verified_at.set(now)],
        now=now,
        condition=ApplicantRecord.email_code_id == code_id,
    )


def count_wrong_code(applicant_id: str, code_id: str) -> int | None:
    """Adds one wrong try to the current code atomically; the new count (None if the code was replaced)."""
    record = ApplicantRecord(applicant_id=applicant_id)
    if not update_if(record, [ApplicantRecord.email_code_wrong_tries.add(1)], ApplicantRecord.email_code_id == code_id):
        return None
    return int(record.email_code_wrong_tries)


def replace_email_code(
    applicant_id: str, old_code_id: str | None, code: IssuedCode, resent_at: Sequence[dt.datetime]
) -> bool:
    """A new code for an applicant still waiting to verify its email, unless another request replaced it first."""
    same_code: Any = (
        ApplicantRecord.email_code_id.does_not_exist()
        if old_code_id is None
        else ApplicantRecord.email_code_id == old_code_id
    )
    history = {moment.isoformat() for moment in resent_at}
    resends = (
        ApplicantRecord.email_code_resent_at.set(history) if history else ApplicantRecord.email_code_resent_at.remove()
    )
    return update_if(
        ApplicantRecord(applicant_id=applicant_id),
        [
            ApplicantRecord.email_code_id.set(code.code_id),
            ApplicantRecord.email_code_hash.set(code.code_hash),
            ApplicantRecord.email_code_issued_at.set(code.issued_at),
            ApplicantRecord.email_code_expires_at.set(code.expires_at),
            ApplicantRecord.email_code_wrong_tries.set(0),
            resends,
            ApplicantRecord.updated_at.set(code.issued_at),
        ],
        (ApplicantRecord.status == Status.REGISTERED.value) & same_code,
    )


# --- the civil registry's decision ------------------------------------------------------------------------------


def record_registry_decision(
    applicant_id: str, decision: Decision, *, family: str | None, social_aid: bool | None, now: dt.datetime
) -> bool:
    """EMAIL_VERIFIED -> NIK_REJECTED, ELIGIBLE or INELIGIBLE, with what the registry said: its family card (the KK
    cap's key) and social aid (the tier) replace what the applicant declared. False if another consumer decided
    first."""
    actions: list[Action] = [ApplicantRecord.nik_checked_at.set(now)]
    if decision.reason:
        actions.append(ApplicantRecord.reason.set(decision.reason))
    if family is not None:
        actions.append(ApplicantRecord.family.set(family))
    if social_aid is not None:
        actions.append(ApplicantRecord.social_aid.set(social_aid))
    if decision.tier is not None:
        actions.append(ApplicantRecord.tier.set(decision.tier))
    return change(REGISTRY_DECISIONS[decision.status], applicant_id, actions, now=now)


# --- notifications ----------------------------------------------------------------------------------------------


def mark_notified(applicant_id: str, notification_id: str) -> None:
    bind()
    ApplicantRecord(applicant_id=applicant_id).update(actions=[ApplicantRecord.notified.add({notification_id})])
