"""Members for the tests after acceptance, made through the store's own operations (register, verify, join,
accept) rather than a whole wave's draw; and partners' signed requests to the app."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.population import PopulationGenerator
from functions import clock
from functions.adapters import personal_data
from functions.domain.card import new_card_number
from functions.domain.eligibility import Decision
from functions.domain.lifecycle import Status
from functions.domain.membership import MembershipTerms
from functions.domain.partners import sign
from functions.domain.registration import RegistrationForm, identity_keys, parse_registration
from functions.services import access, email_codes, selection
from functions.services.registration import intake_message
from functions.settings import settings
from functions.store import applicants, waves

JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Member:
    applicant_id: str
    access_token: str
    card_number: str


def accepted_members(count: int, seed: int = 1001) -> list[Member]:
    """`count` applicants accepted in the open wave, each an ACTIVE member holding the training balance."""
    made = []
    now = clock.now()
    wave = selection.open_wave(now).number
    terms = MembershipTerms(balance=settings().training_balance, first_purchase_days=settings().first_purchase_days)
    for person in PopulationGenerator(seed=seed).people(count):
        form = parse_registration(json.dumps(person.registration()).encode())
        made.append(_accepted(form, wave, terms, now))
    return made


def _accepted(form: RegistrationForm, wave: int, terms: MembershipTerms, now: dt.datetime) -> Member:
    applicant_id = uuid.uuid4().hex
    token = access.new_token(applicant_id, generation=0)["access_token"]
    hashes = {kind: personal_data.lookup_hash(kind, value) for kind, value in identity_keys(form).items()}
    message = intake_message(form, applicant_id, hashes)
    sealed = base64.b64decode(message.personal_data)
    code = email_codes.issue(message.email_hash, now)
    applicants.register(message, sealed, code, now)
    registered = applicants.find(applicant_id)
    assert registered is not None
    assert applicants.verify_email(registered, code.code_id, now)[0] is applicants.Claimed.DONE
    eligible = Decision(Status.ELIGIBLE, tier=1)
    decided = applicants.record_registry_decision(registered, eligible, family=None, social_aid=False, now=now)
    assert decided[0] is applicants.Claimed.DONE, decided
    applicant = applicants.find(applicant_id)
    assert applicant is not None and waves.join(applicant, wave, now)
    card = new_card_number()
    assert waves.accept(applicant_id, wave, card, family=applicant.family, terms=terms, now=now)
    return Member(applicant_id, token, card)


class PartnerClient:
    """A partner calling the app through chalice's test client, each request signed (and so never replayed: a
    repeated request is signed again, as a partner's retry would be, a second apart when it has to be), stamped
    with the app's clock, so that a test that moves the clock moves the partner's too."""

    def __init__(self, client: Any, partner_id: str, secret: str) -> None:
        self.client, self.partner_id, self.secret = client, partner_id, secret
        self._signed: set[tuple[str, str, str, bytes]] = set()

    def send(self, method: str, path: str, body: Any = None) -> Any:
        raw = b"" if body is None else json.dumps(body).encode()
        for _ in range(40):  # the same request in the same second would carry the same signature: a replay
            stamp = str(int(clock.now().timestamp()))
            if (stamp, method, path, raw) not in self._signed:
                break
            time.sleep(0.05)
        self._signed.add((stamp, method, path, raw))
        headers = {
            **JSON,
            "X-Partner-Id": self.partner_id,
            "X-Timestamp": stamp,
            "X-Signature": sign(self.secret, stamp, method, path, raw),
        }
        return self.client.http.request(method, path, headers=headers, body=raw)

    def post(self, path: str, body: Any = None) -> Any:
        return self.send("POST", path, body)

    def list_course(self, course_id: str, price: int, minimum_hours: int = 1, title: str = "Excel untuk Pemula") -> str:
        """Lists (or lists again) a course of this partner's catalogue; its id."""
        course = {"title": title, "price": price, "minimum_hours": minimum_hours}
        answer = self.send("PUT", f"/partners/courses/{course_id}", course)
        assert answer.status_code == 200, answer.json_body
        return course_id


def outbox_purchase_code(purchase_id: str) -> list[dict[str, Any]]:
    path = Path(settings().outbox_path)
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line.get("kind") == "purchase_code" and line.get("purchase_id") == purchase_id]
