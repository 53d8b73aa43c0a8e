"""Every eligibility rule and reason, the tiers, and the NIK match, as pure functions."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from functions.domain.eligibility import (
    DeclaredPerson,
    EligibilityRules,
    RegistryPerson,
    age_on,
    eligibility,
    nik_check,
    priority_tier,
    verify_and_decide,
)
from functions.domain.lifecycle import Status
from functions.settings import BARRED_OCCUPATIONS, PRIORITY_EMPLOYMENT

TODAY = dt.date(2020, 4, 11)
RULES = EligibilityRules(18, 64, frozenset(BARRED_OCCUPATIONS), frozenset(PRIORITY_EMPLOYMENT))
PERSON = RegistryPerson(
    nik="3171015708950001",
    kk_number="3171010101100001",
    full_name="Siti Aminah",
    birth_date=dt.date(1995, 8, 17),
    gender="F",
    occupation="PRIVATE_EMPLOYEE",
    student=False,
    past_recipient=False,
    social_aid=False,
)
DECLARED = DeclaredPerson(PERSON.nik, PERSON.kk_number, PERSON.full_name, PERSON.birth_date)


@pytest.mark.parametrize("occupation", [*BARRED_OCCUPATIONS, "asn", "Polri"])
def test_barred_occupations_are_ineligible(occupation: str) -> None:
    decision = eligibility(replace(PERSON, occupation=occupation), "laid_off", TODAY, RULES)
    assert (decision.status, decision.reason) == (Status.INELIGIBLE, "BARRED_OCCUPATION")


@pytest.mark.parametrize(
    ("birth_date", "eligible"),
    [
        (dt.date(2002, 4, 11), True),  # 18 today
        (dt.date(2002, 4, 12), False),  # 18 tomorrow
        (dt.date(1955, 4, 12), True),  # 64, 65 tomorrow
        (dt.date(1955, 4, 11), False),  # 65 today
    ],
)
def test_age_is_18_to_64_on_the_day_of_decision(birth_date: dt.date, eligible: bool) -> None:
    decision = eligibility(replace(PERSON, birth_date=birth_date), "job_seeker", TODAY, RULES)
    assert decision.status is (Status.ELIGIBLE if eligible else Status.INELIGIBLE)
    if not eligible:
        assert decision.reason == "AGE"


def test_students_and_past_recipients_are_ineligible() -> None:
    assert eligibility(replace(PERSON, student=True), "job_seeker", TODAY, RULES).reason == "STUDENT"
    assert eligibility(replace(PERSON, past_recipient=True), "job_seeker", TODAY, RULES).reason == "PAST_RECIPIENT"


def test_the_first_rule_that_bars_is_the_reason() -> None:
    everything = replace(PERSON, occupation="TNI", birth_date=dt.date(1940, 1, 1), student=True, past_recipient=True)
    assert eligibility(everything, "job_seeker", TODAY, RULES).reason == "BARRED_OCCUPATION"
    assert eligibility(replace(everything, occupation="FARMER"), "job_seeker", TODAY, RULES).reason == "AGE"


@pytest.mark.parametrize(
    ("employment", "aid", "tier"),
    [
        ("laid_off", False, 1),
        ("furloughed", False, 1),
        ("micro_business", False, 1),
        ("laid_off", True, 2),
        ("micro_business", True, 2),
        ("job_seeker", False, 3),
        ("employed", False, 3),
        ("job_seeker", True, 4),
        ("employed", True, 4),
    ],
)
def test_priority_tiers(employment: str, aid: bool, tier: int) -> None:
    assert priority_tier(employment, aid, RULES) == tier
    assert eligibility(replace(PERSON, social_aid=aid), employment, TODAY, RULES).tier == tier


def test_the_registry_social_aid_decides_the_tier_not_the_declaration() -> None:
    # The applicant declared no aid (the declaration is not an input at all); the registry says aid: tier 2.
    assert eligibility(replace(PERSON, social_aid=True), "laid_off", TODAY, RULES).tier == 2


def test_rules_come_from_configuration() -> None:
    stricter = replace(RULES, max_age=30, barred_occupations=frozenset({"FARMER"}))
    assert eligibility(replace(PERSON, occupation="FARMER"), "laid_off", TODAY, stricter).reason == "BARRED_OCCUPATION"
    older = replace(PERSON, birth_date=dt.date(1980, 1, 1))
    assert eligibility(older, "laid_off", TODAY, stricter).reason == "AGE"


@pytest.mark.parametrize(
    ("declared_name", "declared_birth", "status", "reason"),
    [
        ("Siti Aminah", dt.date(1995, 8, 17), Status.NIK_VERIFIED, None),
        ("  SITI   aminah ", dt.date(1995, 8, 17), Status.NIK_VERIFIED, None),
        ("Siti Aminah Putri", dt.date(1995, 8, 17), Status.NIK_REJECTED, "MISMATCH"),
        ("Siti Aminah", dt.date(1995, 8, 18), Status.NIK_REJECTED, "MISMATCH"),
    ],
)
def test_nik_check_matches_nik_name_and_birth_date(
    declared_name: str, declared_birth: dt.date, status: Status, reason: str | None
) -> None:
    decision = nik_check(DeclaredPerson(PERSON.nik, PERSON.kk_number, declared_name, declared_birth), PERSON)
    assert (decision.status, decision.reason) == (status, reason)


def test_an_unknown_nik_is_not_found() -> None:
    assert nik_check(DECLARED, None).reason == "NOT_FOUND"


def test_a_verified_nik_goes_straight_on_to_eligibility() -> None:
    assert verify_and_decide(DECLARED, PERSON, "laid_off", TODAY, RULES).status is Status.ELIGIBLE
    assert verify_and_decide(DECLARED, replace(PERSON, student=True), "laid_off", TODAY, RULES).reason == "STUDENT"
    assert verify_and_decide(DECLARED, None, "laid_off", TODAY, RULES).reason == "NOT_FOUND"


def test_age_counts_whole_years() -> None:
    assert age_on(dt.date(2000, 2, 29), dt.date(2018, 2, 28)) == 17
    assert age_on(dt.date(2000, 2, 29), dt.date(2018, 3, 1)) == 18


def test_nik_check_needs_the_family_card_the_registry_holds() -> None:
    # Given the right NIK, name and birth date but another family card number
    declared = DeclaredPerson(PERSON.nik, "3171010101200001", PERSON.full_name, PERSON.birth_date)
    # Then the registry does not confirm it, so the NIK is not claimed
    assert (nik_check(declared, PERSON).status, nik_check(declared, PERSON).reason) == (Status.NIK_REJECTED, "MISMATCH")
