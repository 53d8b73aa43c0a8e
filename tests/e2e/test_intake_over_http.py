"""Registration intake on the local stack over real HTTP: valid applicants are stored, bad input is refused."""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.population import PopulationGenerator
from devstack.stack import EmbeddedStack
from functions.domain.card import new_card_number
from tests.e2e.conftest import Api
from tests.e2e.leaks import dumped_items, leaks_in_logs, personal_data_in, secrets_in_a_log, stack_logs

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


def test_the_scan_of_a_stacks_logs_finds_the_codes_and_account_numbers_that_stack_was_given() -> None:
    # Given a stack's folder whose outbox sent a code and whose payment provider holds an account, and two logs
    # (outside the run's temporary folder, which the test of what the run left behind reads)
    with tempfile.TemporaryDirectory() as folder:
        scanned = leaks_in_stack_folder(Path(folder))
    # Then only the leaky log is named, with both of its leaks
    assert scanned == {"stack/logs/leaky.log": ["a code sent: 49...", "an account number: 73..."]}


def leaks_in_stack_folder(root: Path) -> dict[str, list[str]]:
    """Plants a stack's folder under `root` (an outbox that sent a code, a provider given an account, a clean log and
    a leaky one) and scans it."""
    stack = root / "stack"
    (stack / "logs").mkdir(parents=True)
    (stack / "outbox.jsonl").write_text(
        json.dumps({"kind": "email_code", "applicant_id": "a1", "code": "493027"}) + "\n"
    )
    (stack / "payout-accounts.csv").write_text(
        "provider,account_number,holder_name,nik,kyc,status\nBCA,7301234567,Dewi Lestari,x,true,ACTIVE\n"
    )
    (stack / "logs" / "clean.log").write_text('{"message":"payment paid","amount":600000,"account_last4":"4567"}\n')
    (stack / "logs" / "leaky.log").write_text('{"code":"493027","account":"7301234567"}\n')
    assert len(stack_logs(root)) == 2
    return leaks_in_logs(root)


@pytest.mark.after_all_e2e
def test_nothing_the_e2e_run_left_behind_holds_personal_data_in_clear(
    stack: EmbeddedStack, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every log line of every local stack this test process ran, every item in the store, every message on the
    queues; and in no log line a card number, a voucher code, a code sent to a member or a partner's secret. (The
    self-contained runs, which may run in another process, check their own stack's logs the same way.)"""
    people = [*api.people_used, PopulationGenerator(seed=40).person(gender="F")]
    base = tmp_path_factory.getbasetemp()
    assert any(p.read_text(errors="replace").count("registration stored") for p in stack_logs(base))
    leaks = leaks_in_logs(base, people)
    dynamodb = stack.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            # sealed fields are binary (base64 in this dump): only clear text can match
            leaks[f"table {table}"] = personal_data_in(dumped_items(page["Items"]), people, stack.operators)
    sqs = stack.client("sqs")
    for url in sqs.list_queues()["QueueUrls"]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        leaks[f"queue {url.rsplit('/', 1)[-1]}"] = personal_data_in(json.dumps(messages), people)
    assert {where: found for where, found in leaks.items() if found} == {}
