"""Applicants and the guards that keep one account per NIK, email and phone.

Each status change is one event of the lifecycle's transition table (`functions.domain.lifecycle.TRANSITIONS`),
applied by `change`: a conditional write from the event's source statuses, in one transaction with the funnel
counters it moves, so a redelivered message or a repeated request changes nothing the second time. What callers
get back are `Applicant` values, never the table's records. Identity claims (`store.claims`) are taken and given
back in the same transactions as the status changes that take or give them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

from pynamodb.exceptions import DoesNotExist
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
    Reason,
    Status,
    duplicate_reason,
    path,
)
from functions.domain.messages import IntakeMessage
from functions.store import claims, funnel
from functions.store.models import ApplicantRecord, bind
from functions.store.transactions import Build, committed, transact, update_if


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _entity(record: ApplicantRecord) -> Applicant:
    code = (
        IssuedCode(
            record.email_code_id,
            record.email_code_hash,
            record.email_code_issued_at,
            record.email_code_expires_at,
            sealed=record.email_code_sealed,
            sent_at=record.email_code_sent_at,
        )
        if record.email_code_id and record.email_code_hash and record.email_code_expires_at
        else None
    )
    sign_in_code = (
        IssuedCode(
            record.sign_in_code_id,
            record.sign_in_code_hash,
            record.sign_in_code_issued_at,
            record.sign_in_code_expires_at,
        )
        if record.sign_in_code_id and record.sign_in_code_hash and record.sign_in_code_expires_at
        else None
    )
    return Applicant(
        applicant_id=record.applicant_id,
        status=Status(record.status),
        reason=record.reason,
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
        email_code_tries=int(record.email_code_tries or 0),
        email_code_resent_at=tuple(sorted(dt.datetime.fromisoformat(t) for t in record.email_code_resent_at or ())),
        email_verified_at=record.email_verified_at,
        nik_check_queued_at=record.nik_check_queued_at,
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
        token_generation=int(record.token_generation or 0),
        sign_in_code=sign_in_code,
        sign_in_code_tries=int(record.sign_in_code_tries or 0),
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


def _change(
    event: Event | tuple[Event, ...],
    applicant_id: str,
    actions: Sequence[Action],
    *,
    now: dt.datetime,
    condition: Condition | None,
    also: Sequence[Build],
) -> list[str | None]:
    bind()
    transition = path(*event) if isinstance(event, tuple) else TRANSITIONS[event]
    guard = ApplicantRecord.status.is_in(*sorted(transition.sources))
    if condition is not None:
        guard = guard & condition
    moved = [ApplicantRecord.status.set(transition.target.value), *actions, ApplicantRecord.updated_at.set(now)]

    def update(transaction: TransactWrite) -> None:
        transaction.update(ApplicantRecord(applicant_id=applicant_id), actions=moved, condition=guard)

    return transact(update, funnel.count(transition.counted, applicant_id), *also)


def change(
    event: Event | tuple[Event, ...],
    applicant_id: str,
    actions: Sequence[Action],
    *,
    now: dt.datetime,
    condition: Condition | None = None,
    also: Sequence[Build] = (),
) -> bool:
    """Applies `event` (or events in a row, `lifecycle.path`) to the applicant if it is in one of the source
    statuses (and `condition` holds): the target status and `actions`, the funnel stages it reaches, and `also`'s
    writes, in one transaction. False when a condition failed (the applicant had moved on, or one of `also`'s
    conditions did not hold)."""
    codes = _change(event, applicant_id, actions, now=now, condition=condition, also=also)
    return committed(codes, "status")


class Claimed(Enum):
    """How a status change that claims an identity went."""

    DONE = "done"
    MOVED_ON = "moved_on"  # the applicant was no longer where the change starts (another request was first)
    DUPLICATE = "duplicate"  # another applicant holds the identity: this one is REJECTED with the reason


def _claiming(
    event: Event | tuple[Event, ...],
    applicant: Applicant,
    actions: Sequence[Action],
    kinds: Sequence[str],
    *,
    now: dt.datetime,
    condition: Condition | None = None,
    release_on_refusal: Sequence[str] = (),
) -> tuple[Claimed, str | None]:
    """Applies `event` and claims `kinds` in one transaction; when another applicant holds one of them, refuses
    the applicant as a duplicate instead, giving back `release_on_refusal`."""
    hashes = applicant.identity_hashes()
    claim = claims.claim(hashes, kinds, applicant.applicant_id, now)
    codes = _change(event, applicant.applicant_id, actions, now=now, condition=condition, also=[claim])
    if committed(codes, "claim"):
        return Claimed.DONE, None
    # Which condition failed is not told reliably (a transaction's items are reordered by kind), so ask: a key
    # another holds makes this a duplicate; otherwise the applicant had moved on.
    clashes = [kind for kind in claims.held_identity_keys(hashes, except_for=applicant.applicant_id) if kind in kinds]
    if not clashes:
        return Claimed.MOVED_ON, None
    reason = duplicate_reason(clashes[0]).value
    refused = change(
        Event.REFUSE_AS_DUPLICATE,
        applicant.applicant_id,
        [ApplicantRecord.reason.set(reason)],
        now=now,
        condition=condition,
        also=[claims.give_back(hashes, release_on_refusal, applicant.applicant_id)],
    )
    return (Claimed.DUPLICATE, reason) if refused else (Claimed.MOVED_ON, None)


# --- registration -----------------------------------------------------------------------------------------------


class Outcome(Enum):
    STORED = "stored"
    ALREADY_STORED = "already_stored"


def _new_record(message: IntakeMessage, sealed: bytes, now: dt.datetime) -> ApplicantRecord:
    return ApplicantRecord(
        applicant_id=message.applicant_id,
        status=TRANSITIONS[Event.REGISTER].target.value,
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


def register(message: IntakeMessage, sealed: bytes, code: IssuedCode, now: dt.datetime) -> Outcome:
    """Stores the applicant with its first email code, counted once; a redelivered message changes nothing.

    It claims nothing: any number of registrations may name the same NIK, email or phone until one is verified
    (`verify_email`, `record_registry_decision`).
    """
    bind()
    record = _new_record(message, sealed, now)
    record.email_code_id = code.code_id
    record.email_code_hash = code.code_hash
    record.email_code_issued_at = code.issued_at
    record.email_code_expires_at = code.expires_at
    record.email_code_sealed = code.sealed

    def store(transaction: TransactWrite) -> None:
        transaction.save(record, condition=ApplicantRecord.applicant_id.does_not_exist())

    codes = transact(store, funnel.count(TRANSITIONS[Event.REGISTER].counted, message.applicant_id))
    return Outcome.STORED if committed(codes, "registration") else Outcome.ALREADY_STORED


# --- email codes and verification ----------------------------------------------------------------------------


def verify_email(applicant: Applicant, code_id: str, now: dt.datetime) -> tuple[Claimed, str | None]:
    """REGISTERED -> EMAIL_VERIFIED, if the code verified is still the applicant's current one, claiming its email
    and phone; the NIK check is marked queued in the same write (it is queued once, by this caller). When another
    applicant holds the email or phone: REJECTED with DUPLICATE_EMAIL or DUPLICATE_PHONE."""
    return _claiming(
        Event.VERIFY_EMAIL,
        applicant,
        [ApplicantRecord.email_verified_at.set(now), ApplicantRecord.nik_check_queued_at.set(now)],
        ("email", "phone"),
        now=now,
        condition=ApplicantRecord.email_code_id == code_id,
    )


def claim_nik_check(applicant_id: str, now: dt.datetime) -> bool:
    """Takes the one queueing of an EMAIL_VERIFIED applicant's NIK check, if nobody holds it (see
    `give_back_nik_check`)."""
    return update_if(
        ApplicantRecord(applicant_id=applicant_id),
        [ApplicantRecord.nik_check_queued_at.set(now)],
        (ApplicantRecord.status == Status.EMAIL_VERIFIED.value) & ApplicantRecord.nik_check_queued_at.does_not_exist(),
    )


def give_back_nik_check(applicant_id: str, claimed_at: dt.datetime) -> None:
    """The queueing failed: the next verification of the same code may queue it."""
    update_if(
        ApplicantRecord(applicant_id=applicant_id),
        [ApplicantRecord.nik_check_queued_at.remove()],
        ApplicantRecord.nik_check_queued_at == claimed_at,
    )


def count_code_try(applicant_id: str, code_id: str) -> int | None:
    """Counts one try at the current code before it is compared, atomically: the count including this try (None
    if the code was replaced meanwhile)."""
    record = ApplicantRecord(applicant_id=applicant_id)
    if not update_if(record, [ApplicantRecord.email_code_tries.add(1)], ApplicantRecord.email_code_id == code_id):
        return None
    return int(record.email_code_tries)


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
            ApplicantRecord.email_code_tries.set(0),
            ApplicantRecord.email_code_sealed.set(code.sealed)
            if code.sealed
            else ApplicantRecord.email_code_sealed.remove(),
            ApplicantRecord.email_code_sent_at.remove(),
            resends,
            ApplicantRecord.updated_at.set(code.issued_at),
        ],
        (ApplicantRecord.status == Status.REGISTERED.value) & same_code,
    )


def mark_code_sent(applicant_id: str, code_id: str, now: dt.datetime) -> bool:
    """Takes the one sending of the applicant's current code `code_id`, if it is still current and unsent: the
    sealed code is dropped and the time noted in one conditional write. False: sent already, or replaced."""
    return update_if(
        ApplicantRecord(applicant_id=applicant_id),
        [ApplicantRecord.email_code_sent_at.set(now), ApplicantRecord.email_code_sealed.remove()],
        (ApplicantRecord.status == Status.REGISTERED.value)
        & (ApplicantRecord.email_code_id == code_id)
        & ApplicantRecord.email_code_sent_at.does_not_exist(),
    )


def unmark_code_sent(applicant_id: str, code_id: str, sealed: str, marked_at: dt.datetime) -> None:
    """The delivery failed: the code is unsent again (sealed as before), for the message's next delivery."""
    update_if(
        ApplicantRecord(applicant_id=applicant_id),
        [ApplicantRecord.email_code_sealed.set(sealed), ApplicantRecord.email_code_sent_at.remove()],
        (ApplicantRecord.email_code_id == code_id) & (ApplicantRecord.email_code_sent_at == marked_at),
    )


# --- access: sign-in codes and the end of tokens (`domain.access`) ----------------------------------------------


# The sign-in code's attributes, set together when one is issued and removed together when it is used.
_SIGN_IN_CODE: tuple[Any, ...] = (
    ApplicantRecord.sign_in_code_id,
    ApplicantRecord.sign_in_code_hash,
    ApplicantRecord.sign_in_code_issued_at,
    ApplicantRecord.sign_in_code_expires_at,
    ApplicantRecord.sign_in_code_tries,
)


def start_sign_in(applicant_id: str, code: IssuedCode) -> bool:
    """The applicant's new sign-in code (no tries yet), replacing any earlier one. False: no such applicant."""
    values = (code.code_id, code.code_hash, code.issued_at, code.expires_at, 0)
    return update_if(
        ApplicantRecord(applicant_id=applicant_id),
        [attribute.set(value) for attribute, value in zip(_SIGN_IN_CODE, values, strict=True)],
        ApplicantRecord.applicant_id.exists(),
    )


def count_sign_in_try(applicant_id: str, code_id: str) -> int | None:
    """Counts one try at the current sign-in code before it is compared, atomically: the count including this try
    (None if the code was replaced or spent meanwhile)."""
    record = ApplicantRecord(applicant_id=applicant_id)
    if not update_if(record, [ApplicantRecord.sign_in_code_tries.add(1)], ApplicantRecord.sign_in_code_id == code_id):
        return None
    return int(record.sign_in_code_tries)


def spend_sign_in_code(applicant_id: str, code_id: str) -> bool:
    """Takes the one use of a right sign-in code: it is gone after, so it yields one token. False: used already."""
    return update_if(
        ApplicantRecord(applicant_id=applicant_id),
        [attribute.remove() for attribute in _SIGN_IN_CODE],
        ApplicantRecord.sign_in_code_id == code_id,
    )


def end_tokens(applicant_id: str, now: dt.datetime) -> bool:
    """Ends every access token issued so far, in one write: the generation moves on. False: no such applicant."""
    return update_if(
        ApplicantRecord(applicant_id=applicant_id),
        [ApplicantRecord.token_generation.add(1), ApplicantRecord.tokens_ended_at.set(now)],
        ApplicantRecord.applicant_id.exists(),
    )


# --- the civil registry's decision ------------------------------------------------------------------------------


def record_registry_decision(
    applicant: Applicant, decision: Decision, *, family: str | None, social_aid: bool | None, now: dt.datetime
) -> tuple[Claimed, str | None]:
    """EMAIL_VERIFIED -> NIK_REJECTED, ELIGIBLE or INELIGIBLE, with what the registry said: its family card (the KK
    cap's key) and social aid (the tier) replace what the applicant declared. A confirmed NIK is claimed in the same
    write; when another registration's confirmation claimed it first, this one is REJECTED with DUPLICATE_NIK. A
    rejected NIK gives back the email and phone its verification claimed."""
    actions: list[Action] = [ApplicantRecord.nik_checked_at.set(now)]
    if decision.reason:
        actions.append(ApplicantRecord.reason.set(decision.reason))
    if family is not None:
        actions.append(ApplicantRecord.family.set(family))
    if social_aid is not None:
        actions.append(ApplicantRecord.social_aid.set(social_aid))
    if decision.tier is not None:
        actions.append(ApplicantRecord.tier.set(decision.tier))
    events = REGISTRY_DECISIONS[decision.status]
    if decision.status is Status.NIK_REJECTED:
        contacts = claims.give_back(applicant.identity_hashes(), ("email", "phone"), applicant.applicant_id)
        moved = change(events, applicant.applicant_id, actions, now=now, also=[contacts])
        return (Claimed.DONE if moved else Claimed.MOVED_ON), None
    return _claiming(events, applicant, actions, ("nik",), now=now, release_on_refusal=("email", "phone"))


def release_claim(holder: Applicant, admin: str, reason: str, now: dt.datetime, also: Sequence[Build] = ()) -> bool:
    """An operator gives a confirmed NIK back: its holder is REJECTED (CLAIM_RELEASED) and gives back everything
    it claimed, and who did it, why and when is recorded, in one transaction with `also` (leaving a pool)."""
    hashes = holder.identity_hashes()
    return change(
        Event.RELEASE_CLAIM,
        holder.applicant_id,
        [ApplicantRecord.reason.set(Reason.CLAIM_RELEASED.value)],
        now=now,
        also=[
            claims.give_back(hashes, UNIQUE_KEYS, holder.applicant_id),
            claims.record_release(holder.nik_hash, holder.applicant_id, admin, reason, now),
            *also,
        ],
    )


# --- notifications ----------------------------------------------------------------------------------------------


def mark_notified(applicant_id: str, notification_id: str) -> None:
    bind()
    ApplicantRecord(applicant_id=applicant_id).update(actions=[ApplicantRecord.notified.add({notification_id})])
