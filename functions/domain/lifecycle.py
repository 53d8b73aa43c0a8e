"""The applicant's lifecycle, in one place: its statuses, the events that move it, the one transition table, the
funnel stages each event counts, and `Applicant`, the value the store returns (docs/architecture.md draws the
table).

Every status change in the system is one row of `TRANSITIONS`: the store's intent-named operations
(`register`, `verify_email`, `record_registry_decision`, `join`, `accept`, `carry_over`, ...) each apply one event,
as a conditional write from the event's source statuses, in one transaction with the funnel counters it moves.
Acceptance activates a membership, whose states (and its purchases') are the transition tables of
`functions.domain.membership`, applied the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from functions.domain.email_code import IssuedCode


class Status(StrEnum):
    PENDING = "PENDING"
    REGISTERED = "REGISTERED"
    EMAIL_VERIFIED = "EMAIL_VERIFIED"
    NIK_VERIFIED = "NIK_VERIFIED"
    NIK_REJECTED = "NIK_REJECTED"
    ELIGIBLE = "ELIGIBLE"
    INELIGIBLE = "INELIGIBLE"
    JOINED = "JOINED"
    PROCESSING = "PROCESSING"
    ACCEPTED = "ACCEPTED"
    NOT_SELECTED = "NOT_SELECTED"
    REJECTED = "REJECTED"


class Reason(StrEnum):
    DUPLICATE_NIK = "DUPLICATE_NIK"
    DUPLICATE_EMAIL = "DUPLICATE_EMAIL"
    DUPLICATE_PHONE = "DUPLICATE_PHONE"
    CLAIM_RELEASED = "CLAIM_RELEASED"


class FunnelStage(StrEnum):
    """Counted once per applicant when it first reaches the stage, as the ministry reported its funnel."""

    REGISTERED = "registered"
    EMAIL_VERIFIED = "email_verified"
    NIK_VERIFIED = "nik_verified"
    ELIGIBLE = "eligible"
    JOINED = "joined"
    ACCEPTED = "accepted"
    # After acceptance (functions.domain.membership): each member counted once, at the first of each.
    ACTIVATED = "activated"
    PURCHASED = "purchased"
    COMPLETED = "completed"
    REVIEWED = "reviewed"
    REVOKED = "revoked"
    # Incentives (functions.domain.incentives): the first payout account verified, each incentive paid, a payment
    # held by the screening before it.
    ACCOUNT_VERIFIED = "account_verified"
    INCENTIVE_1 = "incentive_1"
    INCENTIVE_2 = "incentive_2"
    INCENTIVE_3 = "incentive_3"
    INCENTIVE_4 = "incentive_4"
    HELD = "held"


# The stage each incentive's payment counts, by its number; the count is a setting, and the funnel shows the
# regulation's four.
INCENTIVE_STAGES = (FunnelStage.INCENTIVE_1, FunnelStage.INCENTIVE_2, FunnelStage.INCENTIVE_3, FunnelStage.INCENTIVE_4)


def incentive_stage(number: int) -> tuple[FunnelStage, ...]:
    """The funnel stage incentive `number` (from 1) counts when paid: none beyond the funnel's four."""
    return INCENTIVE_STAGES[number - 1 : number]


class Event(StrEnum):
    """What happens to an applicant, named as the programme names it."""

    REGISTER = "register"
    VERIFY_EMAIL = "verify_email"
    REFUSE_AS_DUPLICATE = "refuse_as_duplicate"
    REJECT_NIK = "reject_nik"
    VERIFY_NIK = "verify_nik"
    FIND_ELIGIBLE = "find_eligible"
    FIND_INELIGIBLE = "find_ineligible"
    JOIN = "join"
    ACCEPT = "accept"
    CARRY_OVER = "carry_over"
    RELEASE_CLAIM = "release_claim"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[Status]  # the statuses the event may happen in; PENDING: not stored yet
    target: Status
    counted: tuple[FunnelStage, ...] = ()  # the funnel stages the applicant reaches by it


def _row(sources: Status | tuple[Status, ...], target: Status, *counted: FunnelStage) -> Transition:
    return Transition(frozenset(sources if isinstance(sources, tuple) else (sources,)), target, counted)


TRANSITIONS: Mapping[Event, Transition] = {
    Event.REGISTER: _row(Status.PENDING, Status.REGISTERED, FunnelStage.REGISTERED),
    # Verifying the email claims the email and phone; the registry's confirmation claims the NIK. A registration
    # that finds one already claimed by another is refused (docs/architecture.md, "Identity claims").
    Event.VERIFY_EMAIL: _row(Status.REGISTERED, Status.EMAIL_VERIFIED, FunnelStage.EMAIL_VERIFIED),
    Event.REFUSE_AS_DUPLICATE: _row((Status.REGISTERED, Status.EMAIL_VERIFIED), Status.REJECTED),
    Event.REJECT_NIK: _row(Status.EMAIL_VERIFIED, Status.NIK_REJECTED),
    Event.VERIFY_NIK: _row(Status.EMAIL_VERIFIED, Status.NIK_VERIFIED, FunnelStage.NIK_VERIFIED),
    Event.FIND_ELIGIBLE: _row(Status.NIK_VERIFIED, Status.ELIGIBLE, FunnelStage.ELIGIBLE),
    Event.FIND_INELIGIBLE: _row(Status.NIK_VERIFIED, Status.INELIGIBLE),
    Event.JOIN: _row(Status.ELIGIBLE, Status.JOINED, FunnelStage.JOINED),
    Event.ACCEPT: _row(Status.JOINED, Status.ACCEPTED, FunnelStage.ACCEPTED),
    # Not selected: into the next wave as JOINED again, the result kept as `previous_result` NOT_SELECTED.
    Event.CARRY_OVER: _row(Status.JOINED, Status.JOINED),
    # An operator gives a confirmed NIK back to its owner, who proved who they are elsewhere.
    Event.RELEASE_CLAIM: _row((Status.ELIGIBLE, Status.INELIGIBLE, Status.JOINED), Status.REJECTED),
}

# Shown, never stored: a JOINED applicant whose wave has closed reads PROCESSING until the wave publishes (closing
# a wave of millions writes nothing to their records); NOT_SELECTED is the previous wave's result.
DERIVED = {Status.PROCESSING: Status.JOINED, Status.NOT_SELECTED: Status.JOINED}


def path(*events: Event) -> Transition:
    """Events applied together in one write, as one transition: from the first's sources to the last's target,
    counting every stage passed. Each event must start where the one before it ends."""
    first, *rest = (TRANSITIONS[event] for event in events)
    target, counted = first.target, list(first.counted)
    for following in rest:
        if target not in following.sources:
            raise ValueError(f"{' then '.join(events)}: no transition from {target}")
        target, counted = following.target, counted + list(following.counted)
    return Transition(first.sources, target, tuple(counted))


# The civil registry's answer and the rules decide, in one write, one of these (NIK_VERIFIED is passed through:
# eligibility is decided as soon as the NIK is).
REGISTRY_DECISIONS: Mapping[Status, tuple[Event, ...]] = {
    Status.NIK_REJECTED: (Event.REJECT_NIK,),
    Status.ELIGIBLE: (Event.VERIFY_NIK, Event.FIND_ELIGIBLE),
    Status.INELIGIBLE: (Event.VERIFY_NIK, Event.FIND_INELIGIBLE),
}

# The identity keys that may each belong to one account only, in the order a clash is reported.
UNIQUE_KEYS = ("nik", "email", "phone")


def duplicate_reason(key: str) -> Reason:
    return Reason(f"DUPLICATE_{key.upper()}")


def shown_status(status: Status, wave_open: bool | None) -> Status:
    """The status an applicant sees: JOINED reads PROCESSING once its wave is no longer open."""
    return Status.PROCESSING if status is Status.JOINED and wave_open is False else status


@dataclass(frozen=True)
class Applicant:
    """One applicant as stored. Personal data only sealed (`personal_data`); identities only as keyed hashes."""

    applicant_id: str
    status: Status
    reason: str | None
    personal_data: bytes
    nik_hash: str
    email_hash: str
    phone_hash: str
    family: str  # keyed hash of the family card (KK) number
    nik_last4: str
    regency_code: str
    province_code: str
    employment_status: str
    declared_social_aid: bool
    submitted_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    # The current email code (never the code itself), the tries counted on it, and the last day's resends.
    email_code: IssuedCode | None = None
    email_code_tries: int = 0
    email_code_resent_at: tuple[dt.datetime, ...] = ()
    email_verified_at: dt.datetime | None = None
    nik_check_queued_at: dt.datetime | None = None  # the NIK check is queued once
    notified: frozenset[str] = frozenset()  # the notifications delivered to this applicant, by id
    nik_checked_at: dt.datetime | None = None
    social_aid: bool | None = None  # the registry's answer, which overrides the declared one
    tier: int | None = None
    wave: int | None = None
    joined_at: dt.datetime | None = None
    card_number: str | None = None
    accepted_at: dt.datetime | None = None
    previous_wave: int | None = None
    previous_result: str | None = None
    # Access: the generation of tokens it admits (`domain.access`), and its current sign-in code with its tries.
    token_generation: int = 0
    sign_in_code: IssuedCode | None = None
    sign_in_code_tries: int = 0

    def identity_hashes(self) -> dict[str, str]:
        return {"nik": self.nik_hash, "email": self.email_hash, "phone": self.phone_hash}
