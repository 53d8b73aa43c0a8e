"""Verification on the local stack over HTTP: register, read the code from the outbox, verify, NIK check,
eligibility, for a population that covers every outcome, with a registry outage in the middle."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from devstack.population import Person, PopulationGenerator, registry_row
from devstack.stack import EmbeddedStack
from functions.resources import NIK_CHECK_MAX_CONCURRENCY
from tests.e2e.conftest import Api

FINAL = {"ELIGIBLE", "INELIGIBLE", "NIK_REJECTED"}


def population() -> list[tuple[Person, dict[str, Any] | None, str, str | None]]:
    """(person, their registry row or None, expected status, expected reason): every outcome, several times."""
    people = PopulationGenerator(seed=303)
    cases: list[tuple[Person, dict[str, Any] | None, str, str | None]] = []
    for _ in range(4):
        for employment, aid in (
            ("laid_off", False),
            ("micro_business", True),
            ("job_seeker", False),
            ("employed", True),
        ):
            person = people.person(employment_status=employment, receives_social_aid=aid)
            cases.append((person, registry_row(person), "ELIGIBLE", None))
        unknown = people.person()
        cases.append((unknown, None, "NIK_REJECTED", "NOT_FOUND"))
        renamed = people.person()
        cases.append((renamed, registry_row(renamed, full_name="Nama Lain Sekali"), "NIK_REJECTED", "MISMATCH"))
        older = people.person()
        cases.append((older, registry_row(older, birth_date="1961-01-01"), "NIK_REJECTED", "MISMATCH"))
        for occupation in ("ASN", "TNI", "VILLAGE_HEAD", "BUMN_COMMISSIONER"):
            barred = people.person()
            cases.append((barred, registry_row(barred, occupation=occupation), "INELIGIBLE", "BARRED_OCCUPATION"))
        young = people.person(birth_date=people.birth_date(16, 17))
        cases.append((young, registry_row(young), "INELIGIBLE", "AGE"))
        old = people.person(birth_date=people.birth_date(66, 70))
        cases.append((old, registry_row(old), "INELIGIBLE", "AGE"))
        student = people.person()
        cases.append((student, registry_row(student, student=True), "INELIGIBLE", "STUDENT"))
        past = people.person()
        cases.append((past, registry_row(past, past_recipient=True), "INELIGIBLE", "PAST_RECIPIENT"))
    return cases


def register_and_verify(api: Api, person: Person) -> dict[str, Any]:
    answer = api.register(person)
    assert answer.status_code == 202, answer.text
    applicant: dict[str, Any] = answer.json()
    code = api.email_code(applicant["applicant_id"])
    body = {"applicant_id": applicant["applicant_id"], "code": code}
    verified = api.post("/verifications/email", body, applicant["access_token"])
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "EMAIL_VERIFIED", verified.text
    return applicant


def test_every_outcome_is_reached_and_an_outage_loses_nobody(api: Api, stack: EmbeddedStack) -> None:
    cases = population()
    api.add_to_registry([row for _, row, _, _ in cases if row is not None])
    stack.registry_control(latency_ms=20, mode="up", reset_stats=True)
    half = len(cases) // 2
    with ThreadPoolExecutor(max_workers=12) as pool:
        first = list(pool.map(lambda case: register_and_verify(api, case[0]), cases[:half]))
        # The civil registry goes down for several seconds while checks are queued and in flight
        stack.registry_control(mode="down")
        second = list(pool.map(lambda case: register_and_verify(api, case[0]), cases[half:]))
        time.sleep(4)
        stack.registry_control(mode="up")
        finals = list(
            pool.map(
                lambda a: api.wait_for_status(a["applicant_id"], a["access_token"], FINAL, timeout_seconds=180),
                first + second,
            )
        )
    got = [(f["status"], f["reason"]) for f in finals]
    expected = [(status, reason) for _, _, status, reason in cases]
    assert got == expected
    # the applicants were told, and the registry never saw more checks at once than the cap
    deadline = time.monotonic() + 60  # the result emails go out through their own queue, after the status
    mine = {f["applicant_id"] for f in finals}  # the shared stack's outbox also holds other tests' applicants
    while len(told := {m["applicant_id"]: m for m in stack.outbox("nik_result") if m["applicant_id"] in mine}) < len(
        mine
    ):
        assert time.monotonic() < deadline, "not every applicant was told the result"
        time.sleep(0.2)
    assert all(
        (told[f["applicant_id"]]["status"], told[f["applicant_id"]]["reason"]) == (f["status"], f["reason"])
        for f in finals
    )
    stats = requests.get(f"{stack.registry_url}/_stats", timeout=5).json()
    assert 1 <= stats["max_in_flight"] <= NIK_CHECK_MAX_CONCURRENCY
    for name in ("prakerja-nik-checks-dlq", "prakerja-notifications-dlq", "prakerja-intake-dlq"):
        assert stack.queue_depth(name) == {"visible": 0, "in_flight": 0}


def test_eligible_applicants_see_their_tier(api: Api) -> None:
    person = PopulationGenerator(seed=304).person(employment_status="furloughed", receives_social_aid=False)
    api.add_to_registry(
        [registry_row(person, social_aid=True)]
    )  # the registry knows of aid the applicant did not declare
    applicant = register_and_verify(api, person)
    final = api.wait_for_status(applicant["applicant_id"], applicant["access_token"], FINAL)
    assert (final["status"], final["tier"]) == ("ELIGIBLE", 2)


def test_nobody_can_block_an_owner_and_an_operator_can_release_a_confirmed_claim(
    api: Api, stack: EmbeddedStack
) -> None:
    people = PopulationGenerator(seed=305)
    # Given an attacker who registers the owner's NIK under another name, with the attacker's own email
    owner = people.person()
    api.add_to_registry([registry_row(owner)])
    attacker = people.person().but(nik=owner.nik, birth_date=owner.birth_date, gender=owner.gender)
    attack = register_and_verify(api, attacker)
    assert api.wait_for_status(attack["applicant_id"], attack["access_token"], FINAL)["status"] == "NIK_REJECTED"
    # Then the owner registers, verifies and is ELIGIBLE: an unconfirmed registration claims nothing
    mine = register_and_verify(api, owner)
    assert api.wait_for_status(mine["applicant_id"], mine["access_token"], FINAL)["status"] == "ELIGIBLE"

    # Given a second owner whose NIK an agent who knew all the details had confirmed with the agent's own email
    victim = people.person()
    api.add_to_registry([registry_row(victim)])
    agent = register_and_verify(api, victim.but(email="agent." + victim.email, phone=people.person().phone))
    assert api.wait_for_status(agent["applicant_id"], agent["access_token"], FINAL)["status"] == "ELIGIBLE"
    # Then the owner's own registration is answered like any other and ends REJECTED (DUPLICATE_NIK), seen on
    # its status page: registration reveals nobody
    tried = register_and_verify(api, victim.but(email="own." + victim.email, phone=people.person().phone))
    seen = api.wait_for_status(tried["applicant_id"], tried["access_token"], {"REJECTED", *FINAL})
    assert (seen["status"], seen["reason"]) == ("REJECTED", "DUPLICATE_NIK")
    # When an operator releases the claim (the owner proved who they are at the office)
    token = stack.admin_token("ops@kemnaker.go.id")
    body = {"nik": victim.nik, "reason": "owner proved identity in person"}
    assert api.post("/admin/claims/release", body).status_code == 401
    released = api.post("/admin/claims/release", body, token=token)
    assert (released.status_code, released.json()["released_by"]) == (200, "ops@kemnaker.go.id")
    # Then the agent's registration is REJECTED (CLAIM_RELEASED), and the owner registers and becomes ELIGIBLE
    gone = api.applicant(agent["applicant_id"], agent["access_token"]).json()
    assert (gone["status"], gone["reason"]) == ("REJECTED", "CLAIM_RELEASED")
    theirs = register_and_verify(api, victim)
    assert api.wait_for_status(theirs["applicant_id"], theirs["access_token"], FINAL)["status"] == "ELIGIBLE"
