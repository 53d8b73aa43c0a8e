"""Who may join the programme, and in which priority tier: pure functions over the civil registry's record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from functions.domain.identity import names_match
from functions.domain.lifecycle import Status


class NikReason(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    MISMATCH = "MISMATCH"


# Priority tiers are served in order from this one (see `priority_tier`).
FIRST_TIER = 1


class IneligibleReason(StrEnum):
    BARRED_OCCUPATION = "BARRED_OCCUPATION"
    AGE = "AGE"
    STUDENT = "STUDENT"
    PAST_RECIPIENT = "PAST_RECIPIENT"


@dataclass(frozen=True)
class RegistryPerson:
    """What the civil registry holds for one NIK."""

    nik: str
    kk_number: str
    full_name: str
    birth_date: dt.date
    gender: str
    occupation: str
    student: bool
    past_recipient: bool
    social_aid: bool


@dataclass(frozen=True)
class DeclaredPerson:
    """What the applicant declared, as far as the NIK check compares it."""

    nik: str
    kk_number: str
    full_name: str
    birth_date: dt.date


@dataclass(frozen=True)
class EligibilityRules:
    min_age: int
    max_age: int
    barred_occupations: frozenset[str]
    priority_employment: frozenset[str]


@dataclass(frozen=True)
class Decision:
    status: Status
    reason: str | None = None
    tier: int | None = None


def nik_check(declared: DeclaredPerson, registered: RegistryPerson | None) -> Decision:
    """A match needs the NIK, the family card (KK) number, the name (case and spacing ignored) and the birth date:
    only such a match claims the NIK for this registration."""
    if registered is None or registered.nik != declared.nik:
        return Decision(Status.NIK_REJECTED, NikReason.NOT_FOUND.value)
    if (
        registered.kk_number != declared.kk_number
        or not names_match(declared.full_name, registered.full_name)
        or declared.birth_date != registered.birth_date
    ):
        return Decision(Status.NIK_REJECTED, NikReason.MISMATCH.value)
    return Decision(Status.NIK_VERIFIED)


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def priority_tier(employment_status: str, receives_social_aid: bool, rules: EligibilityRules) -> int:
    """1: lost work or income, no other aid; 2: the same with aid; 3: others without aid; 4: others with aid."""
    hit = employment_status in rules.priority_employment
    return FIRST_TIER + (0 if hit else 2) + (1 if receives_social_aid else 0)


def eligibility(person: RegistryPerson, employment_status: str, today: dt.date, rules: EligibilityRules) -> Decision:
    """The first rule that bars the person, in the regulation's order, or the tier it is served in.

    The registry's `social_aid` decides the tier, whatever the applicant declared.
    """
    if person.occupation.upper() in rules.barred_occupations:
        return Decision(Status.INELIGIBLE, IneligibleReason.BARRED_OCCUPATION.value)
    if not rules.min_age <= age_on(person.birth_date, today) <= rules.max_age:
        return Decision(Status.INELIGIBLE, IneligibleReason.AGE.value)
    if person.student:
        return Decision(Status.INELIGIBLE, IneligibleReason.STUDENT.value)
    if person.past_recipient:
        return Decision(Status.INELIGIBLE, IneligibleReason.PAST_RECIPIENT.value)
    return Decision(Status.ELIGIBLE, tier=priority_tier(employment_status, person.social_aid, rules))


def verify_and_decide(
    declared: DeclaredPerson,
    registered: RegistryPerson | None,
    employment_status: str,
    today: dt.date,
    rules: EligibilityRules,
) -> Decision:
    """The NIK check, and for a verified NIK the eligibility decision that follows it at once."""
    checked = nik_check(declared, registered)
    if checked.status is Status.NIK_REJECTED or registered is None:
        return checked
    return eligibility(registered, employment_status, today, rules)
