"""Every documented answer of `openapi.yaml`, produced for real by the Chalice app on moto and checked against the
schema documented for its status (and its headers). What the admin authorizer and the size limit answer before the
app runs is driven through the local gateway (`devstack.gateway`, in-process), which gives those their contract shape.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from chalice.test import Client
from jsonschema import Draft202012Validator

from devstack.population import Person, PopulationGenerator, registry_row
from devstack.registry import RegistryServer, write_csv
from functions import clock
from functions.app import app
from functions.domain.card import new_card_number
from functions.domain.registration import MAX_BODY_BYTES
from functions.services import admin
from functions.settings import settings
from tests.helpers import reset_app_state
from tests.integration.conftest import open_first_wave, run_consumers

SPEC: dict[str, Any] = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON = {"Content-Type": "application/json"}
ERROR = {"$ref": "#/components/schemas/Error"}

# (path template, METHOD, status) of every answer this file produced and checked, and the tests that ran to the end
COVERED: set[tuple[str, str, int]] = set()
FINISHED: set[str] = set()


def resolve(node: Any) -> Any:
    """`node` with every local `$ref` replaced by what it points to (the document has no cycles)."""
    if isinstance(node, list):
        return [resolve(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return resolve({**target, **{key: value for key, value in node.items() if key != "$ref"}})
    return {key: resolve(value) for key, value in node.items()}


ERROR_SCHEMA = resolve(ERROR)


def documented() -> set[tuple[str, str, int]]:
    return {
        (path, method.upper(), int(status))
        for path, item in SPEC["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        for status in operation["responses"]
    }


@dataclass
class Answer:
    """What the local gateway answered, shaped like chalice.test's response."""

    status_code: int
    headers: dict[str, str]
    body: bytes

    @property
    def json_body(self) -> Any:
        return json.loads(self.body)


def check(
    answer: Any, method: str, path: str, status: int, *, code: str | None = None, field: str | None = None
) -> Any:
    """Asserts the answer's status, validates its body and headers against what `openapi.yaml` documents for that
    status of that operation, and records it as covered. Returns the body."""
    body = answer.json_body
    assert answer.status_code == status, f"{method} {path}: {answer.status_code} {answer.body!r}"
    operation = SPEC["paths"][path][method.lower()]
    assert str(status) in operation["responses"], f"{method} {path} answers an undocumented {status}"
    response = resolve(operation["responses"][str(status)])
    schema = response["content"]["application/json"]["schema"]
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).iter_errors(body)
    ]
    assert problems == [], f"{method} {path} {status}: {problems} in {body}"
    headers = {key.lower(): value for key, value in answer.headers.items()}
    for name, header in response.get("headers", {}).items():
        if not header.get("required"):
            continue
        assert name.lower() in headers, f"{method} {path} {status} lacks the {name} header"
        value: Any = headers[name.lower()]
        if header["schema"].get("type") == "integer":
            value = int(value)
        assert list(Draft202012Validator(header["schema"]).iter_errors(value)) == [], f"{name}: {value}"
    if status >= 400:
        assert schema == ERROR_SCHEMA
        if code is not None:
            assert body["error"]["code"] == code, body
        if field is not None:
            assert body["error"].get("field") == field, body
    COVERED.add((path, method, status))
    return body


def through_gateway(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Answer:
    """One request through the local gateway's WSGI application, in this process."""
    from devstack import gateway

    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        started["status"], started["headers"] = int(status.split(maxsplit=1)[0]), dict(response_headers)

    payload = b"".join(gateway.application(environ, start_response))
    return Answer(started["status"], started["headers"], payload)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def outbox_codes(applicant_id: str) -> list[str]:
    path = Path(settings().outbox_path)
    messages = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [m["code"] for m in messages if m["applicant_id"] == applicant_id and m["kind"] == "email_code"]


@pytest.fixture
def client(aws: Any) -> Iterator[Any]:
    with Client(app) as test_client:
        yield test_client


def register(client: Any, person: Person, **headers: str) -> Any:
    return client.http.post("/registrations", headers={**JSON, **headers}, body=json.dumps(person.registration()))


# --- POST /registrations -------------------------------------------------------------------------------------


def test_registration_answers(client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> None:
    people = PopulationGenerator(seed=501)
    path = "/registrations"
    first, second = people.person(), people.person()

    first_answer = check(register(client, first), "POST", path, 202)
    keyed = check(register(client, second, **{"Idempotency-Key": "openapi-0001"}), "POST", path, 202)
    assert check(register(client, second, **{"Idempotency-Key": "openapi-0001"}), "POST", path, 202) == keyed
    other = register(client, people.person(), **{"Idempotency-Key": "openapi-0001"})
    check(other, "POST", path, 422, code="IDEMPOTENCY_KEY_REUSED", field="Idempotency-Key")

    body = people.person().registration()
    flipped = "M" if body["gender"] == "F" else "F"
    for changes, code, field in [
        ({"nik": "12345"}, "INVALID_NIK", "nik"),
        ({"kk_number": "0000000000000000"}, "INVALID_KK", "kk_number"),
        ({"full_name": "R2-D2"}, "INVALID_NAME", "full_name"),
        ({"birth_date": "11/08/2001"}, "INVALID_DATE", "birth_date"),
        ({"gender": flipped}, "GENDER_MISMATCH", "gender"),
        ({"email": "not-an-address"}, "INVALID_EMAIL", "email"),
        ({"phone": "02112345678"}, "INVALID_PHONE", "phone"),
        ({"regency_code": "0000"}, "INVALID_REGENCY", "regency_code"),
        ({"employment_status": "retired"}, "INVALID_VALUE", "employment_status"),
        ({"receives_social_aid": "no"}, "WRONG_TYPE", "receives_social_aid"),
        ({"nik": 1234567890123456}, "WRONG_TYPE", "nik"),
        ({"referrer": "friend"}, "UNKNOWN_FIELD", "referrer"),
    ]:
        answer = client.http.post(path, headers=JSON, body=json.dumps({**body, **changes}))
        check(answer, "POST", path, 400, code=code, field=field)
    missing = {key: value for key, value in body.items() if key != "phone"}
    check(client.http.post(path, headers=JSON, body=json.dumps(missing)), "POST", path, 400, field="phone")
    check(client.http.post(path, headers=JSON, body=b"{not json"), "POST", path, 400, code="INVALID_JSON")
    check(client.http.post(path, headers=JSON, body=b"[]"), "POST", path, 400, code="INVALID_BODY")
    bad_key = register(client, people.person(), **{"Idempotency-Key": "short"})
    check(bad_key, "POST", path, 400, code="INVALID_IDEMPOTENCY_KEY", field="Idempotency-Key")

    plain = client.http.post(path, headers={"Content-Type": "text/plain"}, body=json.dumps(body))
    check(plain, "POST", path, 415, code="UNSUPPORTED_MEDIA_TYPE")
    padded = json.dumps({**body, "full_name": "A" * (MAX_BODY_BYTES + 1)})
    check(client.http.post(path, headers=JSON, body=padded), "POST", path, 413, code="BODY_TOO_LARGE")
    huge = through_gateway("POST", path, body=b" " * (1024 * 1024 + 1))
    check(huge, "POST", path, 413, code="BODY_TOO_LARGE")

    # Never a 409 for what another registration claimed (its email and phone once verified, its NIK once
    # confirmed): the same 202 as for anyone
    write_csv(registry_service.registry.csv_path, [registry_row(first)])
    run_consumers("intake_consumer", "email_code_consumer")
    (code,) = outbox_codes(first_answer["applicant_id"])
    body = json.dumps({"applicant_id": first_answer["applicant_id"], "code": code})
    own = {**JSON, **bearer(first_answer["access_token"])}
    check(client.http.post("/verifications/email", headers=own, body=body), "POST", "/verifications/email", 200)
    run_consumers("nik_check_consumer")
    check(register(client, first), "POST", path, 202)
    check(register(client, people.person().but(email=first.email)), "POST", path, 202)

    # A 409 while a request with the same Idempotency-Key is still being handled
    from functions.adapters import queues

    send_now = queues.send_now
    during: list[Any] = []

    def meanwhile(url: str, message: str) -> None:
        if not during:  # the same request again, while the first is putting its registration on the queue
            during.append(register(client, third, **{"Idempotency-Key": "openapi-0002"}))
        send_now(url, message)

    third = people.person()
    monkeypatch.setattr(queues, "send_now", meanwhile)
    check(register(client, third, **{"Idempotency-Key": "openapi-0002"}), "POST", path, 202)
    check(during[0], "POST", path, 409, code="REQUEST_IN_PROGRESS", field="Idempotency-Key")
    monkeypatch.setattr(queues, "send_now", send_now)

    monkeypatch.setenv("PRAKERJA_INTAKE_QUEUE_URL", settings().intake_queue_url + "-gone")
    reset_app_state()
    check(register(client, people.person()), "POST", path, 429, code="BUSY")
    FINISHED.add("test_registration_answers")


# --- GET /applicants/{applicant_id}, POST /verifications/email, POST /verifications/email/resend ---------------


def test_applicant_and_email_code_answers(
    client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    people = PopulationGenerator(seed=502)
    me = check(register(client, people.person()), "POST", "/registrations", 202)
    them = check(register(client, people.person()), "POST", "/registrations", 202)
    view, verify, resend = "/applicants/{applicant_id}", "/verifications/email", "/verifications/email/resend"
    mine = f"/applicants/{me['applicant_id']}"
    own_id = json.dumps({"applicant_id": me["applicant_id"]})

    pending = check(client.http.get(mine, headers=bearer(me["access_token"])), "GET", view, 200)
    assert pending == {"applicant_id": me["applicant_id"], "status": "PENDING", "reason": None}
    queued = client.http.post(resend, headers={**JSON, **bearer(me["access_token"])}, body=own_id)
    check(queued, "POST", resend, 409, code="NOT_YET_REGISTERED")
    early = {"applicant_id": me["applicant_id"], "code": "123456"}
    too_early = client.http.post(verify, headers={**JSON, **bearer(me["access_token"])}, body=json.dumps(early))
    check(too_early, "POST", verify, 409, code="NOT_YET_REGISTERED")

    run_consumers("intake_consumer", "email_code_consumer")
    stored = check(client.http.get(mine, headers=bearer(me["access_token"])), "GET", view, 200)
    assert stored["status"] == "REGISTERED" and stored["nik"].startswith("*" * 12)
    check(client.http.get(mine, headers=bearer(them["access_token"])), "GET", view, 401, code="UNAUTHORISED")
    check(client.http.get(mine), "GET", view, 401, code="UNAUTHORISED")
    check(client.http.get("/applicants/not-an-id", headers=bearer(me["access_token"])), "GET", view, 401)

    check(client.http.post(resend, headers=JSON, body=own_id), "POST", resend, 401)
    forged = client.http.post(resend, headers={**JSON, **bearer(them["access_token"])}, body=own_id)
    check(forged, "POST", resend, 401, code="UNAUTHORISED")
    empty = client.http.post(resend, headers={**JSON, **bearer(me["access_token"])}, body=b"{}")
    check(empty, "POST", resend, 400, code="MISSING_FIELD", field="applicant_id")

    def try_code(applicant: dict[str, Any], code: str, token: str | None = None) -> Any:
        body = json.dumps({"applicant_id": applicant["applicant_id"], "code": code})
        return client.http.post(verify, headers={**JSON, **bearer(token or applicant["access_token"])}, body=body)

    # The code sent at registration, sent less than a minute ago: reused, nothing issued or queued.
    reused = client.http.post(resend, headers={**JSON, **bearer(me["access_token"])}, body=own_id)
    assert check(reused, "POST", resend, 202)["code_sent_at"] is not None
    # Spent on wrong tries, it may be replaced, but by a code issued at most once a minute.
    (my_first,) = outbox_codes(me["applicant_id"])
    for _ in range(6):
        try_code(me, f"{(int(my_first) + 1) % 10**6:06d}")
    too_soon = client.http.post(resend, headers={**JSON, **bearer(me["access_token"])}, body=own_id)
    check(too_soon, "POST", resend, 429, code="RESEND_LIMIT")
    now[0] += dt.timedelta(seconds=61)
    sent = client.http.post(resend, headers={**JSON, **bearer(me["access_token"])}, body=own_id)
    assert check(sent, "POST", resend, 202) | {"code_expires_at": None} == {
        "applicant_id": me["applicant_id"],
        "status": "REGISTERED",
        "code_sent_at": None,
        "code_expires_at": None,
    }
    check(client.http.post(resend, headers={"Content-Type": "text/plain"}, body=own_id), "POST", resend, 415)
    run_consumers("email_code_consumer")

    (their_code,) = outbox_codes(them["applicant_id"])
    wrong = f"{(int(their_code) + 1) % 10**6:06d}"
    for _ in range(5):
        check(try_code(them, wrong), "POST", verify, 400, code="INVALID_CODE", field="code")
    check(try_code(them, wrong), "POST", verify, 429, code="CODE_LOCKED", field="code")
    check(try_code(me, "12ab"), "POST", verify, 400, code="INVALID_CODE", field="code")
    unknown = {"applicant_id": "f" * 32, "access_token": me["access_token"]}
    check(try_code(unknown, "123456"), "POST", verify, 401, code="UNAUTHORISED")
    check(try_code(me, "123456", token=them["access_token"]), "POST", verify, 401, code="UNAUTHORISED")
    tokenless = client.http.post(
        verify, headers=JSON, body=json.dumps({"applicant_id": me["applicant_id"], "code": "1"})
    )
    check(tokenless, "POST", verify, 401, code="UNAUTHORISED")
    no_code = client.http.post(
        verify, headers={**JSON, **bearer(me["access_token"])}, body=json.dumps({"applicant_id": me["applicant_id"]})
    )
    check(no_code, "POST", verify, 400, code="MISSING_FIELD", field="code")
    check(client.http.post(verify, headers={"Content-Type": "text/plain"}, body=b"{}"), "POST", verify, 415)
    newest = outbox_codes(me["applicant_id"])[-1]
    verified = check(try_code(me, newest), "POST", verify, 200)
    assert verified == {"applicant_id": me["applicant_id"], "status": "EMAIL_VERIFIED", "reason": None}

    done = client.http.post(resend, headers={**JSON, **bearer(me["access_token"])}, body=own_id)
    check(done, "POST", resend, 409, code="NOT_AWAITING_EMAIL_CODE")
    FINISHED.add("test_applicant_and_email_code_answers")


# --- waves, results and admin ------------------------------------------------------------------------------------


def eligible(client: Any, registry_service: RegistryServer, people: list[Person]) -> list[dict[str, Any]]:
    """Registers, verifies and NIK-checks each person, checking each answer on the way."""
    write_csv(registry_service.registry.csv_path, [registry_row(p) for p in people])
    answers = [check(register(client, person), "POST", "/registrations", 202) for person in people]
    run_consumers("intake_consumer", "email_code_consumer")
    for applicant in answers:
        (code,) = outbox_codes(applicant["applicant_id"])
        body = json.dumps({"applicant_id": applicant["applicant_id"], "code": code})
        verified = client.http.post(
            "/verifications/email", headers={**JSON, **bearer(applicant["access_token"])}, body=body
        )
        check(verified, "POST", "/verifications/email", 200)
    run_consumers("nik_check_consumer", "notification_consumer")
    return answers


def test_wave_result_and_admin_answers(
    client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRAKERJA_WAVE_QUOTA", "1")
    reset_app_state()
    # Before the closing schedule's first run no wave is open; the API does not open one.
    check(client.http.get("/waves/current"), "GET", "/waves/current", 404, code="NO_OPEN_WAVE")
    open_first_wave()
    wave = check(client.http.get("/waves/current"), "GET", "/waves/current", 200)
    assert (wave["number"], wave["state"]) == (1, "OPEN")
    people = PopulationGenerator(seed=503)
    people_of_wave = people.people(2)
    first, second = eligible(client, registry_service, people_of_wave)
    stranger = check(register(client, people.person()), "POST", "/registrations", 202)

    join = "/waves/{number}/applicants"

    def join_as(applicant: dict[str, Any], number: str = "1", token: str | None = None, body: Any = None) -> Any:
        return client.http.post(
            f"/waves/{number}/applicants",
            headers={**JSON, **bearer(token or applicant["access_token"])},
            body=json.dumps({"applicant_id": applicant["applicant_id"]} if body is None else body),
        )

    check(join_as(first, number="0"), "POST", join, 400, code="INVALID_WAVE_NUMBER", field="number")
    check(join_as(first, number="one"), "POST", join, 400, code="INVALID_WAVE_NUMBER", field="number")
    check(join_as(first, body={}), "POST", join, 400, code="MISSING_FIELD", field="applicant_id")
    extra = {"applicant_id": first["applicant_id"], "wave": 1}
    check(join_as(first, body=extra), "POST", join, 400, code="UNKNOWN_FIELD", field="wave")
    unauthenticated = client.http.post("/waves/1/applicants", headers=JSON, body=json.dumps({"applicant_id": "x"}))
    check(unauthenticated, "POST", join, 401, code="UNAUTHORISED")
    check(join_as(first, token=second["access_token"]), "POST", join, 401, code="UNAUTHORISED")
    check(join_as(first, number="2"), "POST", join, 409, code="WAVE_NOT_OPEN", field="number")
    check(join_as(stranger), "POST", join, 409, code="NOT_ELIGIBLE")
    joined = check(join_as(first), "POST", join, 201)
    assert joined == {"applicant_id": first["applicant_id"], "status": "JOINED", "wave": 1}
    check(join_as(first), "POST", join, 409, code="ALREADY_JOINED")
    check(join_as(second), "POST", join, 201)

    results = "/waves/{number}/results"
    check(client.http.get("/waves/1/results"), "GET", results, 404, code="RESULTS_NOT_PUBLISHED", field="number")
    check(client.http.get("/waves/0/results"), "GET", results, 400, code="INVALID_WAVE_NUMBER", field="number")
    check(client.http.get("/waves/99999/results"), "GET", results, 400, field="number")

    token = admin.mint("ops@kemnaker.go.id", 1)
    stats = check(client.http.get("/admin/stats", headers=bearer(token)), "GET", "/admin/stats", 200)
    assert {row["stage"]: row["count"] for row in stats["funnel"]}["joined"] == 2
    close, publish = "/admin/waves/{number}/close", "/admin/waves/{number}/publish"
    release = "/admin/claims/release"
    revoke = "/admin/memberships/{card_number}/revoke"
    for method, template, concrete in [
        ("GET", "/admin/stats", "/admin/stats"),
        ("POST", release, release),
        ("POST", revoke, f"/admin/memberships/{new_card_number()}/revoke"),
        ("POST", close, "/admin/waves/1/close"),
        ("POST", publish, "/admin/waves/1/publish"),
    ]:
        check(through_gateway(method, concrete), method, template, 401, code="UNAUTHORISED")
        for wrong in (first["access_token"], token[:-3] + "abc"):
            check(through_gateway(method, concrete, bearer(wrong)), method, template, 403, code="FORBIDDEN")

    def as_admin(concrete: str, body: Any = None) -> Any:
        if body is None:
            return client.http.post(concrete, headers=bearer(token))
        headers = {**bearer(token), "Content-Type": "application/json"}
        return client.http.post(concrete, headers=headers, body=json.dumps(body))

    check(as_admin("/admin/waves/0/close"), "POST", close, 400, code="INVALID_WAVE_NUMBER", field="number")
    check(as_admin("/admin/waves/0/publish"), "POST", publish, 400, code="INVALID_WAVE_NUMBER", field="number")
    check(as_admin("/admin/waves/9/close"), "POST", close, 404, code="NO_SUCH_WAVE", field="number")
    check(as_admin("/admin/waves/9/publish"), "POST", publish, 404, code="NO_SUCH_WAVE", field="number")
    check(as_admin("/admin/waves/1/publish"), "POST", publish, 409, code="WAVE_NOT_SELECTED", field="number")
    check(as_admin("/admin/waves/1/close"), "POST", close, 409, code="WAVE_NOT_DUE", field="force")
    check(as_admin("/admin/waves/1/close", {"force": True}), "POST", close, 400, code="MISSING_REASON", field="reason")
    forced = {"force": True, "reason": "contract test"}
    # The close answers at once with the wave CLOSED; the draw follows once its pool's parts are read
    assert check(as_admin("/admin/waves/1/close", forced), "POST", close, 200)["state"] == "CLOSED"
    run_consumers("pool_part_consumer")
    assert check(as_admin("/admin/waves/1/close"), "POST", close, 200)["state"] == "SELECTED"
    check(as_admin("/admin/waves/2/close"), "POST", close, 409, code="PREVIOUS_WAVE_UNPUBLISHED")
    processing = client.http.get(f"/applicants/{first['applicant_id']}", headers=bearer(first["access_token"]))
    assert check(processing, "GET", "/applicants/{applicant_id}", 200)["status"] == "PROCESSING"

    def release_claim(nik: str) -> Any:
        body = json.dumps({"nik": nik, "reason": "owner proved identity at the Disnaker office"})
        return client.http.post(release, headers={**JSON, **bearer(token)}, body=body)

    check(release_claim("123"), "POST", release, 400, code="INVALID_NIK", field="nik")
    check(release_claim(people.person().nik), "POST", release, 404, code="CLAIM_NOT_FOUND", field="nik")
    check(release_claim(people_of_wave[0].nik), "POST", release, 409, code="CLAIM_IN_DRAW", field="nik")

    check(as_admin("/admin/waves/1/publish"), "POST", publish, 202)
    run_consumers("publish_consumer", "notification_consumer")
    assert check(as_admin("/admin/waves/1/publish"), "POST", publish, 202)["state"] == "PUBLISHED"
    published = check(client.http.get("/waves/1/results"), "GET", results, 200)
    assert (published["wave"], published["pool_size"], published["selected_count"]) == (1, 2, 1)
    outcomes = {}
    for applicant in (first, second):
        answer = client.http.get(f"/applicants/{applicant['applicant_id']}", headers=bearer(applicant["access_token"]))
        record = check(answer, "GET", "/applicants/{applicant_id}", 200)
        outcomes[record["status"]] = record
    assert outcomes["ACCEPTED"]["card_number"] and outcomes["ACCEPTED"]["wave"] == 1
    assert sorted(outcomes["ACCEPTED"]["draw_ids"]) == ["1"] and sorted(outcomes["JOINED"]["draw_ids"]) == ["1", "2"]
    assert published["early_close"]["by"] == "ops@kemnaker.go.id"
    assert (outcomes["JOINED"]["wave"], outcomes["JOINED"]["previous_result"]) == (2, "NOT_SELECTED")
    carried = people_of_wave[
        [first, second].index(
            next(a for a in (first, second) if a["applicant_id"] == outcomes["JOINED"]["applicant_id"])
        )
    ]

    def revoke_card(number: str, body: Any) -> Any:
        concrete = f"/admin/memberships/{number}/revoke"
        return client.http.post(concrete, headers={**JSON, **bearer(token)}, body=json.dumps(body))

    card = outcomes["ACCEPTED"]["card_number"]
    check(revoke_card("123", {"reason": "x"}), "POST", revoke, 400, code="INVALID_CARD_NUMBER", field="card_number")
    check(revoke_card(card, {}), "POST", revoke, 400, code="MISSING_FIELD", field="reason")
    unknown = revoke_card(new_card_number(), {"reason": "x"})
    check(unknown, "POST", revoke, 404, code="CARD_NOT_FOUND", field="card_number")
    revoked = check(revoke_card(card, {"reason": "card bought from an agent"}), "POST", revoke, 200)
    assert (revoked["state"], revoked["returned"]) == ("REVOKED", settings().training_balance)
    again = revoke_card(card, {"reason": "again"})
    check(again, "POST", revoke, 409, code="MEMBERSHIP_REVOKED", field="card_number")
    released = check(release_claim(carried.nik), "POST", release, 200)
    assert (released["status"], released["reason"], released["released_by"]) == (
        "REJECTED",
        "CLAIM_RELEASED",
        "ops@kemnaker.go.id",
    )
    FINISHED.add("test_wave_result_and_admin_answers")


# --- after acceptance: partners' purchases, reviews, the ledger ------------------------------------------------


def test_after_acceptance_answers(client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.services import partner_auth
    from tests.integration.members import PartnerClient, accepted_members, outbox_purchase_code

    monkeypatch.setenv("PRAKERJA_NOTIFIER", "outbox")
    monkeypatch.setenv("PRAKERJA_OUTBOX", str(tmp_path / "outbox.jsonl"))
    reset_app_state()
    partner = PartnerClient(client, "skill-academy", partner_auth.create_or_rotate("skill-academy"))
    member, stranger_member = accepted_members(2, seed=505)
    purchases, confirm_path = "/partners/purchases", "/partners/purchases/{purchase_id}/confirm"
    cancel_path, completions = "/partners/purchases/{purchase_id}/cancel", "/partners/completions"
    reviews, ledger = "/applicants/{applicant_id}/reviews", "/admin/ledger"
    courses = "/partners/courses/{course_id}"
    course = {"title": "Microsoft Excel untuk Pemula", "price": 400_000, "minimum_hours": 8}
    check(partner.send("PUT", "/partners/courses/excel-101", course), "PUT", courses, 200)
    check(partner.send("PUT", "/partners/courses/excel-101", {**course, "title": "a.example"}), "PUT", courses, 400)
    unsigned = client.http.put("/partners/courses/excel-101", headers=JSON, body=json.dumps(course))
    check(unsigned, "PUT", courses, 401, code="UNAUTHORISED")
    whole = settings().training_balance
    partner.list_course("excel-whole", whole)
    body = {"card_number": member.card_number, "course_id": "excel-101", "price": 400_000, "purchase_ref": "order-1"}

    def buy(ref: str) -> tuple[str, str]:
        purchase_id = check(partner.post(purchases, {**body, "purchase_ref": ref}), "POST", purchases, 201)[
            "purchase_id"
        ]
        run_consumers("email_code_consumer")
        return purchase_id, outbox_purchase_code(purchase_id)[0]["code"]

    kept, code = buy("order-1")
    check(partner.post(purchases, {**body, "price": 0}), "POST", purchases, 400, code="INVALID_PRICE", field="price")
    check(partner.post(purchases, {**body, "card_number": "7" * 16}), "POST", purchases, 404, code="CARD_NOT_FOUND")
    unlisted = {**body, "course_id": "excel-404", "purchase_ref": "order-2"}
    check(partner.post(purchases, unlisted), "POST", purchases, 404, code="COURSE_NOT_FOUND", field="course_id")
    not_listed = {**body, "price": 1, "purchase_ref": "order-2"}
    check(partner.post(purchases, not_listed), "POST", purchases, 409, code="PRICE_NOT_LISTED", field="price")
    unsigned = client.http.post(purchases, headers=JSON, body=json.dumps(body))
    check(unsigned, "POST", purchases, 401, code="UNAUTHORISED")

    def confirm(purchase_id: str, given: str) -> Any:
        return partner.post(f"/partners/purchases/{purchase_id}/confirm", {"code": given})

    wrong = f"{(int(code) + 1) % 10**6:06d}"
    check(confirm(kept, wrong), "POST", confirm_path, 400, code="WRONG_CODE", field="code")
    check(confirm(kept, code), "POST", confirm_path, 200)
    short = {**body, "course_id": "excel-whole", "price": whole, "purchase_ref": "order-4"}
    check(partner.post(purchases, short), "POST", purchases, 409, code="INSUFFICIENT_BALANCE", field="price")
    check(confirm("0" * 32, code), "POST", confirm_path, 404, code="PURCHASE_NOT_FOUND")
    unsigned = client.http.post(f"/partners/purchases/{kept}/confirm", headers=JSON, body=b"{}")
    check(unsigned, "POST", confirm_path, 401)
    locked, locked_code = buy("order-3")
    for _ in range(settings().purchase_code_max_wrong_tries):
        confirm(locked, f"{(int(locked_code) + 1) % 10**6:06d}")
    check(confirm(locked, locked_code), "POST", confirm_path, 429, code="CODE_LOCKED")
    check(partner.post(f"/partners/purchases/{locked}/cancel"), "POST", cancel_path, 200)
    check(confirm(locked, locked_code), "POST", confirm_path, 409, code="PURCHASE_CANCELLED")
    check(partner.post(f"/partners/purchases/{'0' * 32}/cancel"), "POST", cancel_path, 404)
    unsigned = client.http.post(f"/partners/purchases/{kept}/cancel", headers=JSON, body=b"")
    check(unsigned, "POST", cancel_path, 401)

    report = {"purchase_id": kept, "completed_at": clock.now().isoformat(), "certificate_id": "CERT-1"}
    check(partner.post(completions, report), "POST", completions, 409, code="TOO_EARLY", field="completed_at")
    on_time = clock.now
    later = clock.now() + dt.timedelta(hours=course["minimum_hours"])
    monkeypatch.setattr(clock, "now", lambda: later)  # the course's hours on, until the completion is in
    report["completed_at"] = later.isoformat()
    check(partner.post(completions, {**report, "completed_at": "yesterday"}), "POST", completions, 400)
    check(partner.post(completions, {**report, "purchase_id": "0" * 32}), "POST", completions, 404)
    check(partner.post(completions, {**report, "purchase_id": locked}), "POST", completions, 409)
    check(client.http.post(completions, headers=JSON, body=json.dumps(report)), "POST", completions, 401)
    path = f"/applicants/{member.applicant_id}/reviews"
    headers = {**JSON, **bearer(member.access_token)}
    check(
        client.http.post(path, headers=headers, body=json.dumps({"purchase_id": kept, "rating": 5})),
        "POST",
        reviews,
        409,
    )
    check(partner.post(completions, report), "POST", completions, 200)
    monkeypatch.setattr(clock, "now", on_time)
    check(partner.post(f"/partners/purchases/{kept}/cancel"), "POST", cancel_path, 409, code="PURCHASE_COMPLETED")
    attempts: list[tuple[dict[str, Any], int]] = [
        ({"rating": 6}, 400),
        ({"rating": 5}, 201),
        ({"purchase_id": "0" * 32, "rating": 5}, 404),
    ]
    for review, status in attempts:
        answer = client.http.post(path, headers=headers, body=json.dumps({"purchase_id": kept, **review}))
        check(answer, "POST", reviews, status)
    review_body = json.dumps({"purchase_id": kept, "rating": 5})
    stranger = client.http.post(path, headers={**JSON, **bearer(stranger_member.access_token)}, body=review_body)
    check(stranger, "POST", reviews, 401)

    view = client.http.get(f"/applicants/{member.applicant_id}", headers=bearer(member.access_token))
    assert check(view, "GET", "/applicants/{applicant_id}", 200)["membership"]["purchases"][0]["status"] == "COMPLETED"
    # A card with its purchases awaiting their codes takes no more
    flood = {**body, "card_number": stranger_member.card_number, "price": 400_000}
    for n in range(settings().purchases_awaiting_per_card):
        check(partner.post(purchases, {**flood, "purchase_ref": f"flood-{n}"}), "POST", purchases, 201)
    limited = partner.post(purchases, {**flood, "purchase_ref": "flood-over"})
    check(limited, "POST", purchases, 429, code="TOO_MANY_PURCHASES")
    token = admin.mint("ops@kemnaker.go.id", 1)
    answer = through_gateway("GET", ledger, bearer(token))
    assert check(answer, "GET", ledger, 200)["identity"]["holds"] is True
    check(through_gateway("GET", ledger), "GET", ledger, 401)
    check(through_gateway("GET", ledger, bearer(member.access_token)), "GET", ledger, 403)
    FINISHED.add("test_after_acceptance_answers")


# --- PUT /applicants/{applicant_id}/payout-account ----------------------------------------------------------


def test_payout_account_answers(client: Any, registry_service: RegistryServer) -> None:
    from functions.store.models import MemberRecord
    from tests.integration.test_payout_accounts import accepted, code_for

    path = "/applicants/{applicant_id}/payout-account"
    code_path = f"{path}/code"
    open_first_wave()
    (member, *_), _ = accepted(client, registry_service, seed=81)
    own = path.replace("{applicant_id}", member["applicant_id"])
    headers = {**JSON, **bearer(member["access_token"])}

    def put(body: dict[str, Any], at: str = own, sent: dict[str, str] = headers) -> Any:
        return client.http.put(at, headers=sent, body=json.dumps(body))

    def ask(at: str = own, sent: dict[str, str] = headers) -> Any:
        return client.http.post(f"{at}/code", headers=sent)

    check(ask(), "POST", code_path, 202)
    ovo = {"provider": "OVO", "account_number": "081234567890", "code": code_for(client, member)}
    check(put(ovo), "PUT", path, 202)
    check(put(ovo), "PUT", path, 409, code="CODE_NOT_REQUESTED", field="code")  # each code changes it once
    check(put({**ovo, "provider": "PAYPAL"}), "PUT", path, 400, code="UNKNOWN_PROVIDER", field="provider")
    check(put({**ovo, "account_number": "12"}), "PUT", path, 400, code="INVALID_ACCOUNT_NUMBER", field="account_number")
    check(put(ovo, sent=JSON), "PUT", path, 401)
    check(ask(sent=JSON), "POST", code_path, 401)
    # Wrong codes lock the code
    fresh = {**ovo, "code": code_for(client, member)}
    wrong = {**fresh, "code": f"{(int(fresh['code']) + 1) % 10**6:06d}"}
    for _ in range(5):
        check(put(wrong), "PUT", path, 400, code="WRONG_CODE", field="code")
    check(put(fresh), "PUT", path, 429, code="CODE_LOCKED", field="code")
    check(ask(), "POST", code_path, 429, code="TOO_MANY_CODES")  # the hour's codes are used up
    # A registration still queued is no member
    queued = register(client, PopulationGenerator(seed=82).people(1)[0]).json_body
    elsewhere = path.replace("{applicant_id}", queued["applicant_id"])
    stranger = {**JSON, **bearer(queued["access_token"])}
    check(put(ovo, elsewhere, stranger), "PUT", path, 404, code="NOT_A_MEMBER")
    check(ask(elsewhere, stranger), "POST", code_path, 404, code="NOT_A_MEMBER")
    MemberRecord(applicant_id=member["applicant_id"]).update(
        actions=[MemberRecord.payment_in_flight.set(f"{member['applicant_id']}-incentive-1")]
    )
    check(put(ovo), "PUT", path, 409, code="PAYMENT_IN_FLIGHT")
    check(ask(), "POST", code_path, 409, code="PAYMENT_IN_FLIGHT")
    FINISHED.add("test_payout_account_answers")


def test_access_answers(client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.test_verification import verified_applicant

    monkeypatch.setenv("PRAKERJA_MAILBOX_CODES_PER_HOUR", "3")  # the registration's code, then two sign-ins
    reset_app_state()
    person = PopulationGenerator(seed=503).person()
    me = verified_applicant(client, person)
    sign_in, confirm, end = "/sign-ins", "/sign-ins/confirm", "/applicants/{applicant_id}/tokens/end"
    mine = end.replace("{applicant_id}", me["applicant_id"])

    def post(path: str, body: dict[str, str]) -> Any:
        return client.http.post(path, headers=JSON, body=json.dumps(body))

    check(post(sign_in, {"email": "not an address"}), "POST", sign_in, 400, code="INVALID_EMAIL", field="email")
    check(post(sign_in, {"email": person.email}), "POST", sign_in, 202)
    run_consumers("email_code_consumer")
    path = Path(settings().outbox_path)
    (code,) = [m["code"] for m in map(json.loads, path.read_text().splitlines()) if m["kind"] == "sign_in_code"]
    wrong = "000000" if code != "000000" else "111111"
    check(post(confirm, {"email": person.email, "code": "12"}), "POST", confirm, 400, code="INVALID_CODE")
    signed_in = check(post(confirm, {"email": person.email, "code": code}), "POST", confirm, 200)
    check(post(sign_in, {"email": person.email}), "POST", sign_in, 202)
    check(post(sign_in, {"email": person.email}), "POST", sign_in, 429, code="CODE_LIMIT")
    for _ in range(5):
        check(post(confirm, {"email": "nobody@example.com", "code": wrong}), "POST", confirm, 400)
    check(post(confirm, {"email": "nobody@example.com", "code": wrong}), "POST", confirm, 429, code="CODE_LOCKED")

    queued = register(client, PopulationGenerator(seed=504).person()).json_body
    not_yet = end.replace("{applicant_id}", queued["applicant_id"])
    check(client.http.post(not_yet, headers=bearer(queued["access_token"])), "POST", end, 409)
    check(client.http.post(mine, headers=bearer(signed_in["access_token"])), "POST", end, 200)
    check(client.http.post(mine, headers=bearer(me["access_token"])), "POST", end, 401, code="UNAUTHORISED")
    FINISHED.add("test_access_answers")


def test_wrong_token_answers(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every route an applicant's token opens answers 429 once its id has seen too many wrong tokens: one wrong
    token is allowed here, so the second gets the 429 (ids nobody holds are counted alike)."""
    monkeypatch.setenv("PRAKERJA_TOKEN_FAILURES_ALLOWED", "1")
    reset_app_state()
    review = json.dumps({"purchase_id": "0" * 32, "rating": 5, "comment": "Materinya jelas."})
    routes = [
        ("GET", "/applicants/{applicant_id}", lambda id_: f"/applicants/{id_}", b""),
        ("POST", "/applicants/{applicant_id}/tokens/end", lambda id_: f"/applicants/{id_}/tokens/end", b""),
        ("POST", "/waves/{number}/applicants", lambda id_: "/waves/1/applicants", None),
        ("POST", "/applicants/{applicant_id}/reviews", lambda id_: f"/applicants/{id_}/reviews", review.encode()),
    ]
    for index, (method, path, concrete, body) in enumerate(routes):
        applicant_id = f"{index + 1:032x}"
        sent = json.dumps({"applicant_id": applicant_id}).encode() if body is None else body
        headers = {**JSON, **bearer("not-a-token")}
        for status in (401, 429):
            answer = client.http.request(method, concrete(applicant_id), headers=headers, body=sent)
            check(answer, method, path, status, code="UNAUTHORISED" if status == 401 else "TOO_MANY_ATTEMPTS")
    FINISHED.add("test_wrong_token_answers")


def test_every_route_refuses_a_body_that_is_not_json(client: Any) -> None:
    token = admin.mint("ops@kemnaker.go.id", 1)
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            concrete = (
                path.replace("{applicant_id}", "0" * 32).replace("{number}", "1").replace("{purchase_id}", "0" * 32)
            )
            concrete = concrete.replace("{card_number}", new_card_number()).replace("{course_id}", "excel-1")
            headers = {"Content-Type": "text/plain"}
            if any("adminAuth" in requirement for requirement in operation.get("security", [])):
                headers.update(bearer(token))
            answer = client.http.request(method.upper(), concrete, headers=headers, body=b"hello")
            check(answer, method.upper(), path, 415, code="UNSUPPORTED_MEDIA_TYPE")
    FINISHED.add("test_every_route_refuses_a_body_that_is_not_json")


def test_every_documented_answer_was_produced_and_checked(request: pytest.FixtureRequest) -> None:
    """Runs last (pytest keeps file order): meaningful when every other test of this file ran to its end."""
    others = {name for name in dir(request.module) if name.startswith("test_")} - {request.function.__name__}
    if others - FINISHED:
        pytest.skip(f"not run here, or failed: {sorted(others - FINISHED)}")
    missing = sorted(documented() - COVERED)
    assert missing == [], f"documented but never produced: {missing}"
