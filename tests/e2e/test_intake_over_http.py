"""Registration intake on the local stack over real HTTP: valid applicants are stored, bad input is refused."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.outbox import EMAIL_CODE, PURCHASE_CODE, OutboxFollower
from devstack.population import Person, PopulationGenerator
from devstack.stack import EmbeddedStack
from functions.domain.card import is_valid as is_card_number
from functions.domain.card import new_card_number
from tests.e2e.conftest import Api

VALID_COUNT = 200


def test_valid_registrations_all_become_registered(api: Api) -> None:
    # Given 200 valid applicants registering at once
    people = PopulationGenerator(seed=200).people(VALID_COUNT)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(api.register, people))
    assert [a.status_code for a in answers] == [202] * VALID_COUNT
    accepted = [a.json() for a in answers]
    assert len({a["applicant_id"] for a in accepted}) == VALID_COUNT
    # Then every one of them is stored as REGISTERED
    with ThreadPoolExecutor(max_workers=8) as pool:
        final = list(
            pool.map(lambda a: api.wait_for_status(a["applicant_id"], a["access_token"], {"REGISTERED"}), accepted)
        )
    assert [f["status"] for f in final] == ["REGISTERED"] * VALID_COUNT


def _bad_inputs() -> list[tuple[str, bytes, dict[str, str], str | None]]:
    """(what, body, headers, field the error must name): forty kinds of bad input."""
    person = PopulationGenerator(seed=40).person(gender="F")
    base = person.registration()

    def with_(**changes: Any) -> bytes:
        return json.dumps({**base, **changes}).encode()

    without = {field: json.dumps({k: v for k, v in base.items() if k != field}).encode() for field in base}
    json_type = {"Content-Type": "application/json"}
    cases: list[tuple[str, bytes, dict[str, str], str | None]] = [
        ("nik too short", with_(nik=person.nik[:-1]), json_type, "nik"),
        ("nik with a letter", with_(nik=person.nik[:-1] + "x"), json_type, "nik"),
        ("nik unknown province", with_(nik="99" + person.nik[2:]), json_type, "nik"),
        ("nik serial 0000", with_(nik=person.nik[:-4] + "0000"), json_type, "nik"),
        ("nik impossible date", with_(nik=person.nik[:6] + "75" + person.nik[8:]), json_type, "nik"),
        ("nik as a number", with_(nik=int(person.nik)), json_type, "nik"),
        ("gender contradicts nik", with_(gender="M"), json_type, "gender"),
        ("birth date contradicts nik", with_(birth_date="1950-01-01"), json_type, "birth_date"),
        ("birth date not ISO", with_(birth_date="01/02/1990"), json_type, "birth_date"),
        ("birth date impossible", with_(birth_date="1990-02-30"), json_type, "birth_date"),
        ("kk too long", with_(kk_number=person.kk_number + "1"), json_type, "kk_number"),
        ("kk unknown region", with_(kk_number="00" + person.kk_number[2:]), json_type, "kk_number"),
        ("name empty", with_(full_name=""), json_type, "full_name"),
        ("name with digits", with_(full_name="Budi 99"), json_type, "full_name"),
        ("name too long", with_(full_name="A" * 101), json_type, "full_name"),
        ("name with markup", with_(full_name="<b>Budi</b>"), json_type, "full_name"),
        ("email without domain", with_(email="budi@"), json_type, "email"),
        ("email without at", with_(email="budi.example.com"), json_type, "email"),
        ("phone landline", with_(phone="0215551234"), json_type, "phone"),
        ("phone foreign", with_(phone="+6581234567"), json_type, "phone"),
        ("phone letters", with_(phone="0812abcdefgh"), json_type, "phone"),
        ("regency unknown", with_(regency_code="9999"), json_type, "regency_code"),
        ("regency as number", with_(regency_code=3171), json_type, "regency_code"),
        ("employment unknown", with_(employment_status="retired"), json_type, "employment_status"),
        ("social aid as string", with_(receives_social_aid="yes"), json_type, "receives_social_aid"),
        ("social aid null", with_(receives_social_aid=None), json_type, "receives_social_aid"),
        ("unknown field", with_(is_admin=True), json_type, "is_admin"),
        ("missing nik", without["nik"], json_type, "nik"),
        ("missing email", without["email"], json_type, "email"),
        ("missing phone", without["phone"], json_type, "phone"),
        ("missing social aid", without["receives_social_aid"], json_type, "receives_social_aid"),
        ("not JSON", b"nik=1", json_type, None),
        ("truncated JSON", with_()[:-5], json_type, None),
        ("JSON array", b"[]", json_type, None),
        ("invalid UTF-8", b'{"nik": "\xff\xfe"}', json_type, None),
        ("deep nesting", b'{"nik": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", json_type, None),
        ("empty body", b"", json_type, None),
        ("wrong content type", with_(), {"Content-Type": "text/plain"}, None),
        ("body over 16 KiB", with_(full_name="A" * 20_000), json_type, None),
        (
            "idempotency key with a space",
            with_(),
            {**json_type, "Idempotency-Key": "a key with spaces"},
            "Idempotency-Key",
        ),
    ]
    return cases


BAD_INPUTS = _bad_inputs()


def test_there_are_forty_kinds_of_bad_input() -> None:
    assert len(BAD_INPUTS) == 40


@pytest.mark.parametrize(("what", "body", "headers", "field"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_gets_a_4xx_json_error_naming_the_field(
    api: Api, what: str, body: bytes, headers: dict[str, str], field: str | None
) -> None:
    answer = requests.post(f"{api.base_url}/registrations", data=body, headers=headers, timeout=30)
    assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] and error["message"]
    if field is not None:
        assert error["field"] == field


PII_PATTERNS = {
    "a NIK or KK (16 digits)": re.compile(r"(?<![0-9A-Za-z])[0-9]{16}(?![0-9A-Za-z])"),
    "an email address": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+"),
    "an Indonesian mobile number": re.compile(r"(?<![0-9A-Za-z.])(?:\+62|0)8[0-9]{8,11}(?![0-9A-Za-z])"),
}


def personal_data_in(text: str, people: list[Person], operators: Collection[str] = ()) -> list[str]:
    """What in `text` looks like, or is, personal data of the people the tests used (shown truncated). The
    operators' accounts an admin action records by name (who released a claim, who forced a close) are not."""
    for operator in operators:
        text = text.replace(operator, "")
    found = [
        f"{what}: {m.group()[:4]}..."
        for what, pattern in PII_PATTERNS.items()
        for m in pattern.finditer(text)
        if not is_card_number(m.group())  # Kartu Prakerja numbers are public to their holder, not personal data
    ]
    for person in people:
        if person.full_name in text:
            found.append(f"a name: {person.full_name[:3]}...")
    return found


# What no log line may hold either, though the store keeps them (sealed, hashed, or as the holder's own).
SECRET_PATTERNS = {
    "a voucher code (16 base32 characters)": re.compile(r"(?<![A-Za-z0-9_])[A-Z2-7]{16}(?![A-Za-z0-9_])"),
    "a partner secret or a signature (64 hex digits)": re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{64}(?![0-9A-Za-z])"),
}
CARD_SHAPE = PII_PATTERNS["a NIK or KK (16 digits)"]
SIX_DIGITS = re.compile(r"(?<![0-9A-Za-z.])[0-9]{6}(?![0-9A-Za-z])")  # after a "." a fraction of a second


def codes_sent(outboxes: list[Path]) -> set[str]:
    """Every email and purchase code the stacks of the run sent to applicants and members."""
    return {
        message["code"]
        for path in outboxes
        for message in OutboxFollower(path).messages(EMAIL_CODE, PURCHASE_CODE)
        if message.get("code")
    }


def secrets_in_a_log(text: str, codes: Collection[str]) -> list[str]:
    """What in a log's `text` is a card number, a voucher code, a partner's secret or a request's signature, or one
    of the `codes` sent."""
    found = [f"a card number: {m.group()[:4]}..." for m in CARD_SHAPE.finditer(text) if is_card_number(m.group())]
    found += [
        f"{what}: {m.group()[:4]}..." for what, pattern in SECRET_PATTERNS.items() for m in pattern.finditer(text)
    ]
    found += [f"a code sent: {m.group()[:2]}..." for m in SIX_DIGITS.finditer(text) if m.group() in codes]
    return found


def test_the_log_scan_finds_each_secret_and_passes_what_logs_hold() -> None:
    # Given a log line of each kind that must never be written, with what a log line does hold beside it
    card = new_card_number()
    held = (
        '{"timestamp":"2026-11-30 13:31:42,089+0000","at":"2026-11-30T13:31:42.123456+00:00",'
        '"applicant_id":"6b47daf874394afbab14d0d86606c7d2","code":"INSUFFICIENT_BALANCE","wave":3}'
    )
    leaked = {
        "card": f'"card_number": "{card}"',
        "voucher": '"voucher_code": "TQFPNVBDZQZBJKSH"',
        "secret": f'"secret": "{"ab" * 32}"',
        "code": '"code": "493027"',
    }
    # Then only the leaks are found, each once
    assert secrets_in_a_log(held, {"123456", "874394"}) == []
    assert {what: len(secrets_in_a_log(line, {"493027"})) for what, line in leaked.items()} == dict.fromkeys(leaked, 1)


@pytest.mark.after_all_e2e
def test_nothing_the_e2e_run_left_behind_holds_personal_data_in_clear(
    stack: EmbeddedStack, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every log line of every local stack of the run, every item in the store, every message on the queues; and
    in no log line a card number, a voucher code, a code sent to a member or a partner's secret."""
    people = [*api.people_used, PopulationGenerator(seed=40).person(gender="F")]
    logs = [p for p in tmp_path_factory.getbasetemp().rglob("*.log") if p.parent.name == "logs"]
    assert any(p.read_text(errors="replace").count("registration stored") for p in logs)
    codes = codes_sent(list(tmp_path_factory.getbasetemp().rglob("outbox.jsonl")))

    def in_log(path: Path) -> list[str]:
        text = path.read_text(errors="replace")
        return [*personal_data_in(text, people), *secrets_in_a_log(text, codes)]

    leaks = {str(p.relative_to(tmp_path_factory.getbasetemp())): in_log(p) for p in logs}
    dynamodb = stack.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            # sealed fields are binary (base64 in this dump): only clear text can match
            leaks[f"table {table}"] = personal_data_in(json.dumps(page["Items"], default=str), people, stack.operators)
    sqs = stack.client("sqs")
    for url in sqs.list_queues()["QueueUrls"]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        leaks[f"queue {url.rsplit('/', 1)[-1]}"] = personal_data_in(json.dumps(messages), people)
    assert {where: found for where, found in leaks.items() if found} == {}
