"""Signing in again and ending tokens on the local stack over HTTP: the code read from the outbox as a member reads
their email."""

from __future__ import annotations

from devstack.population import PopulationGenerator
from tests.e2e.conftest import Api
from tests.e2e.test_verification_over_http import register_and_verify


def test_a_member_signs_in_with_a_code_and_ends_every_token(api: Api) -> None:
    person = PopulationGenerator(seed=313).person()
    applicant = register_and_verify(api, person)
    applicant_id, first_token = applicant["applicant_id"], applicant["access_token"]
    # An email nobody verified gets the same answer, and nothing is sent
    asked = api.post("/sign-ins", {"email": person.email})
    unknown = api.post("/sign-ins", {"email": "nobody.at.all@example.com"})
    assert asked.status_code == unknown.status_code == 202
    assert asked.json() == unknown.json()
    (message,) = api.stack.outbox_reader.wait_for_messages("sign_in_code", 1, applicant_id=applicant_id)
    # The code answers a second token; both open the record
    signed_in = api.post("/sign-ins/confirm", {"email": person.email, "code": message["code"]})
    assert signed_in.status_code == 200, signed_in.text
    second_token = signed_in.json()["access_token"]
    assert [api.applicant(applicant_id, t).status_code for t in (first_token, second_token)] == [200, 200]
    # Ending the tokens with the second refuses both
    ended = api.post(f"/applicants/{applicant_id}/tokens/end", {}, token=second_token)
    assert ended.status_code == 200, ended.text
    assert [api.applicant(applicant_id, t).status_code for t in (first_token, second_token)] == [401, 401]
    assert not [m for m in api.stack.outbox_reader.messages("sign_in_code") if m["to"] == "nobody.at.all@example.com"]
