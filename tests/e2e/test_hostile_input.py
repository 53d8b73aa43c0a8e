"""Hostile input on the local stack over real HTTP: no 5xx, and every refusal a 4xx in the documented shape.

Three parts. Schemathesis fuzzes every operation of `openapi.yaml` (the schema's examples, its coverage cases and a
few hundred generated cases each, valid and invalid), with a real applicant's and a real operator's token, or a real
partner's signature, on half of the cases so that it gets past 401/403. Then explicit requests, sent with requests
or, where the client library would refuse to send them, with a raw socket: oversized bodies, deep JSON nesting,
invalid UTF-8, wrong content types and header injection in `Idempotency-Key`. Last, each bad value the routes after
acceptance can be given (prices, cards, dates, ratings, comments, payout accounts, revocations), signed where the
route is a partner's, so that it is the body that is judged.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests
import schemathesis
import yaml
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.partners import PartnerClient
from devstack.population import PopulationGenerator
from devstack.stack import EmbeddedStack
from functions.domain.card import luhn_digit
from tests.e2e.conftest import Api

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
ERROR_SCHEMA: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))["components"]["schemas"]["Error"]
# Generated cases per operation in the fuzzing phase (the examples and coverage phases add their own).
FUZZED_EXAMPLES = 300
APP_BODY_LIMIT = 16 * 1024
GATEWAY_BODY_LIMIT = 1024 * 1024
JSON_TYPE = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Credentials:
    applicant_id: str
    access_token: str
    admin_token: str
    partner: PartnerClient


# Session-wide: the fuzzing test runs last of all (after_all_e2e), after this module's fixtures were torn down.
@pytest.fixture(scope="session")
def credentials(api: Api, stack: EmbeddedStack) -> Credentials:
    """A real applicant (stored, waiting for its email code), a real operator's admin token and a training partner
    created by the operator's command."""
    answer = api.register(PopulationGenerator(seed=6606).person())
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    stored = api.wait_for_status(accepted["applicant_id"], accepted["access_token"], {"REGISTERED"})
    assert stored["status"] == "REGISTERED", stored
    secret = stack.partner_secret("e2e-hostile", "Mitra Uji")
    partner = PartnerClient(stack.api_url, "e2e-hostile", secret, now=stack.programme_seconds)  # the stack's clock
    return Credentials(accepted["applicant_id"], accepted["access_token"], stack.admin_token("schemathesis"), partner)


def error_problems(status: int, content_type: str | None, body: bytes) -> list[str]:
    """Why an answer is not a refusal in the documented shape: a 4xx, JSON, `Error` of openapi.yaml."""
    problems = []
    if not 400 <= status < 500:
        problems.append(f"status {status} is not a 4xx")
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        problems.append(f"Content-Type {content_type!r} is not application/json")
    try:
        document = json.loads(body)
    except ValueError:
        return [*problems, f"the body is not JSON: {body[:120]!r}"]
    problems += [
        f"not an Error: {e.message}" for e in jsonschema.Draft202012Validator(ERROR_SCHEMA).iter_errors(document)
    ]
    return problems


def assert_documented_error(answer: requests.Response, status: int | None = None, field: str | None = None) -> None:
    problems = error_problems(answer.status_code, answer.headers.get("Content-Type"), answer.content)
    assert problems == [], (answer.status_code, answer.headers, answer.content[:300])
    if status is not None:
        assert answer.status_code == status, answer.text
    if field is not None:
        assert answer.json()["error"].get("field") == field, answer.text


# --- Schemathesis over every operation ---------------------------------------------------------------------


def errors_in_the_documented_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case[Any]) -> None:
    """Every 4xx (and, were there one, 5xx) is `{"error": {"code", "message", "field"?}}` as JSON."""
    if response.status_code >= 400:
        problems = error_problems(
            response.status_code, response.headers.get("content-type", [None])[0], response.content
        )
        assert problems == [], f"{case.operation.label} answered {response.status_code}: {problems}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    errors_in_the_documented_shape,
]


# Loaded at import (from the file, no network); the stack's address is given with each call.
SCHEMA = schemathesis.openapi.from_path(OPENAPI)
# Reproducible (derandomized), no example database; schemathesis runs Hypothesis without a deadline.
SCHEMA.config.generation.update(max_examples=FUZZED_EXAMPLES, deterministic=True, database="none")
SCHEMA.config.phases.update(phases=["examples", "coverage", "fuzzing"])
SCHEMA.config.update(request_timeout=30)


def takes_real_credentials(case: schemathesis.Case[Any]) -> bool:
    """About half of the cases, chosen by a hash of the case (so reproducibly), before anything is replaced."""
    fingerprint = repr((case.path_parameters, case.headers, case.query, case.body)).encode()
    return hashlib.sha256(fingerprint).digest()[0] % 2 == 0


def security_schemes(case: schemathesis.Case[Any]) -> set[str]:
    security = case.operation.definition.raw.get("security") or []
    return {name for requirement in security for name in requirement}


def with_real_credentials(case: schemathesis.Case[Any], credentials: Credentials) -> None:
    """The real applicant's token and id, or the operator's token, replace what was generated: the fuzzer then gets
    past 401/403 there."""
    schemes = security_schemes(case)
    tokens = {"adminAuth": credentials.admin_token, "bearerAuth": credentials.access_token}
    for scheme, token in tokens.items():  # in this order: an applicant's operation takes the applicant's token
        if scheme in schemes:
            case.headers = CaseInsensitiveDict({**case.headers, "Authorization": f"Bearer {token}"})
    if isinstance((case.path_parameters or {}).get("applicant_id"), str):
        case.path_parameters = {**(case.path_parameters or {}), "applicant_id": credentials.applicant_id}
    if isinstance(case.body, dict) and isinstance(case.body.get("applicant_id"), str):
        case.body = {**case.body, "applicant_id": credentials.applicant_id}


def signed_by_partner(case: schemathesis.Case[Any], base_url: str, partner: PartnerClient) -> dict[str, Any]:
    """What to send a partner operation's case with: its body as schemathesis serialises it, and the partner's
    signature of that very body and of the path as sent (the signature covers the bytes, not the document)."""
    serialised = case.as_transport_kwargs(base_url=base_url)
    prepared = requests.Request(
        method=serialised["method"],
        url=serialised["url"],
        params=serialised.get("params"),
        json=serialised.get("json"),
        data=serialised.get("data"),
    ).prepare()
    sent = prepared.body  # bytes from `json` or `data`; a str only from a str given as `data`
    body = sent.encode() if isinstance(sent, str) else sent if isinstance(sent, bytes) else b""
    path = prepared.path_url.partition("?")[0]
    return {"headers": signature(partner, case.method, path, body), "data": body}


def signature(partner: PartnerClient, method: str, path: str, body: bytes) -> dict[str, str]:
    """The partner's three headers for this request, never sent before (a repeat would be refused as a replay);
    the Content-Type stays the request's own."""
    headers = partner.fresh_headers(method, path, body)
    return {name: value for name, value in headers.items() if name != "Content-Type"}


# Runs after the other e2e tests on the shared stack: with the operator's token it closes and publishes waves.
@pytest.mark.after_all_e2e
@SCHEMA.parametrize()
def test_fuzzed_requests_get_no_5xx_and_only_documented_answers(
    case: schemathesis.Case[Any], stack: EmbeddedStack, credentials: Credentials
) -> None:
    signed: dict[str, Any] = {}
    if takes_real_credentials(case):
        with_real_credentials(case, credentials)
        if "partnerSignature" in security_schemes(case):
            signed = signed_by_partner(case, stack.api_url, credentials.partner)
    response = case.call(base_url=stack.api_url, **signed)
    case.validate_response(response, checks=CHECKS)


# --- Explicit hostile requests -----------------------------------------------------------------------------

# A purchase id and a card number of the right shape that nobody holds.
UNKNOWN_PURCHASE = "0" * 32
UNHELD_CARD = "7" + "0" * 14 + luhn_digit("7" + "0" * 14)

Route = tuple[str, str, str | None]
CANCEL: Route = ("POST", f"/partners/purchases/{UNKNOWN_PURCHASE}/cancel", "partner")
REVOKE: Route = ("POST", f"/admin/memberships/{UNHELD_CARD}/revoke", "admin")

# (method, path template, who): every route; {id} is the real applicant's id.
ROUTES: list[Route] = [
    ("POST", "/registrations", None),
    ("GET", "/applicants/{id}", "applicant"),
    ("POST", "/verifications/email", "applicant"),
    ("POST", "/verifications/email/resend", "applicant"),
    ("PUT", "/applicants/{id}/payout-account", "applicant"),  # its body is checked before membership
    ("POST", "/applicants/{id}/reviews", "applicant"),  # its body is checked before the purchase
    ("GET", "/waves/current", None),
    ("POST", "/waves/1/applicants", "applicant"),
    ("GET", "/waves/1/results", None),
    ("POST", "/partners/purchases", "partner"),
    ("POST", f"/partners/purchases/{UNKNOWN_PURCHASE}/confirm", "partner"),
    CANCEL,
    ("POST", "/partners/completions", "partner"),
    ("GET", "/admin/stats", "admin"),
    ("POST", "/admin/waves/999/close", "admin"),
    ("POST", "/admin/waves/999/publish", "admin"),
    ("GET", "/admin/ledger", "admin"),
    REVOKE,
]
# The routes that read a JSON body: not cancel, which takes none; of the admin's, the revocation (before its card).
BODY_ROUTES = [
    route for route in ROUTES if route[0] in {"POST", "PUT"} and "/admin/" not in route[1] and route != CANCEL
] + [REVOKE]


def authorisation(credentials: Credentials, route: Route, path: str, body: bytes) -> dict[str, str]:
    """What the route's caller adds: the applicant's or the operator's token, or the partner's signature."""
    method, _, who = route
    if who == "partner":
        return signature(credentials.partner, method, path, body)
    tokens = {"applicant": credentials.access_token, "admin": credentials.admin_token}
    return {"Authorization": f"Bearer {tokens[who]}"} if who else {}


def call(
    credentials: Credentials, base_url: str, route: Route, body: bytes, headers: dict[str, str]
) -> requests.Response:
    path = route[1].format(id=credentials.applicant_id)
    signed = authorisation(credentials, route, path, body)
    return requests.request(route[0], base_url + path, data=body, headers={**signed, **headers}, timeout=60)


def route_id(route: Route) -> str:
    return f"{route[0]} {route[1]}"


def test_a_registration_over_16_kib_is_refused_with_413(api: Api) -> None:
    body = json.dumps(
        {**PopulationGenerator(seed=6607).person().registration(), "full_name": "A" * (APP_BODY_LIMIT + 4000)}
    )
    answer = requests.post(f"{api.base_url}/registrations", data=body.encode(), headers=JSON_TYPE, timeout=30)
    assert_documented_error(answer, 413)
    assert answer.json()["error"]["code"] == "BODY_TOO_LARGE"


def loopback(stack: EmbeddedStack) -> tuple[str, int]:
    address = urlsplit(stack.api_url)
    assert address.hostname and address.port
    return address.hostname, address.port


def host(stack: EmbeddedStack) -> str:
    name, port = loopback(stack)
    return f"{name}:{port}"


def send_raw(stack: EmbeddedStack, request: bytes, timeout: float = 10) -> bytes:
    """Sends bytes as they are to the gateway's loopback port; returns whatever came back before it closed."""
    received = b""
    with socket.create_connection(loopback(stack), timeout=timeout) as connection:
        connection.sendall(request)
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return received


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def parse_raw(received: bytes) -> RawAnswer | None:
    """The HTTP answer in `received`, or None if the server closed the connection without one."""
    if not received:
        return None
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(status_line.split()[1]), headers, body)


@pytest.mark.parametrize("route", [r for r in ROUTES if r[0] in {"POST", "PUT"}], ids=route_id)
def test_a_body_over_1_mib_is_refused_by_the_gateway_without_reading_it(
    stack: EmbeddedStack, credentials: Credentials, route: Route
) -> None:
    # Only the head is sent, announcing 2 MiB: the 413 must come back without a byte of the body being read (a
    # partner's signature is then of an empty body: the gateway refuses before anything checks it).
    path = route[1].format(id=credentials.applicant_id)
    signed = "".join(f"{name}: {value}\r\n" for name, value in authorisation(credentials, route, path, b"").items())
    head = (
        f"{route[0]} {path} HTTP/1.1\r\nHost: {host(stack)}\r\n"
        f"Content-Type: application/json\r\n{signed}Content-Length: {2 * GATEWAY_BODY_LIMIT}\r\n"
        "Connection: close\r\n\r\n"
    )
    started = time.monotonic()
    answer = parse_raw(send_raw(stack, head.encode()))
    assert answer is not None
    assert time.monotonic() - started < 5
    assert answer.status == 413
    assert error_problems(answer.status, answer.headers.get("content-type"), answer.body) == []
    assert json.loads(answer.body)["error"]["code"] == "BODY_TOO_LARGE"


@pytest.mark.parametrize("route", BODY_ROUTES, ids=route_id)
def test_a_body_over_1_mib_sent_in_full_is_refused(
    stack: EmbeddedStack, credentials: Credentials, route: Route
) -> None:
    body = b'{"applicant_id": "' + b"x" * (GATEWAY_BODY_LIMIT + 1) + b'"}'
    try:
        answer = call(credentials, stack.api_url, route, body, JSON_TYPE)
    except requests.ConnectionError:
        return  # the gateway answered and closed before the client finished sending: refused, not a 5xx
    assert_documented_error(answer, 413)


DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"applicant_id": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}"


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize("route", BODY_ROUTES, ids=route_id)
def test_json_nested_100000_deep_is_refused(
    stack: EmbeddedStack, credentials: Credentials, route: Route, body: bytes
) -> None:
    answer = call(credentials, stack.api_url, route, body, JSON_TYPE)
    # Over 16 KiB the registration is refused for its size before it is parsed; the others are parsed.
    assert_documented_error(answer, 413 if route[1] == "/registrations" else 400)


INVALID_UTF8 = [
    b'{"applicant_id": "\xff\xfe", "code": "123456"}',
    b'{"applicant_id": "\xc3\x28", "code": "123456"}',  # a truncated two-byte sequence
    b'{"applicant_id": "\xed\xa0\x80", "code": "123456"}',  # an encoded surrogate
    b'{"applicant_id": "\xc0\xaf", "code": "123456"}',  # an overlong "/"
    b"\xef\xbb\xbf{}",  # a byte order mark
]


@pytest.mark.parametrize("body", INVALID_UTF8, ids=["ff-fe", "truncated", "surrogate", "overlong", "bom"])
@pytest.mark.parametrize("route", BODY_ROUTES, ids=route_id)
def test_invalid_utf8_is_refused_as_invalid_json(
    stack: EmbeddedStack, credentials: Credentials, route: Route, body: bytes
) -> None:
    answer = call(credentials, stack.api_url, route, body, JSON_TYPE)
    assert_documented_error(answer, 400)
    assert answer.json()["error"]["code"] == "INVALID_JSON"


def test_invalid_utf8_in_a_registration_field_is_refused(api: Api) -> None:
    registration = json.dumps(PopulationGenerator(seed=6608).person().registration()).encode()
    body = registration.replace(b'"full_name": "', b'"full_name": "\xff', 1)
    answer = requests.post(f"{api.base_url}/registrations", data=body, headers=JSON_TYPE, timeout=30)
    assert_documented_error(answer, 400)


WRONG_CONTENT_TYPES = [
    ("text/plain", b'{"applicant_id": "x"}'),
    ("application/xml", b"<applicant_id>x</applicant_id>"),
    ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n'),
    ("application/x-www-form-urlencoded", b"applicant_id=x"),
]


@pytest.mark.parametrize(
    ("content_type", "body"), WRONG_CONTENT_TYPES, ids=[c.split(";")[0] for c, _ in WRONG_CONTENT_TYPES]
)
@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_a_wrong_content_type_is_refused_with_415(
    stack: EmbeddedStack, credentials: Credentials, route: Route, content_type: str, body: bytes
) -> None:
    answer = call(credentials, stack.api_url, route, body, {"Content-Type": content_type})
    assert_documented_error(answer, 415)
    assert answer.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize("route", BODY_ROUTES, ids=route_id)
def test_a_body_without_a_content_type_counts_as_json(
    stack: EmbeddedStack, credentials: Credentials, route: Route
) -> None:
    # requests sends no Content-Type for raw bytes: the form-encoded body is then refused as invalid JSON.
    answer = call(credentials, stack.api_url, route, b"applicant_id=x&code=123456", {})
    assert "Content-Type" not in answer.request.headers
    assert_documented_error(answer, 400)
    assert answer.json()["error"]["code"] == "INVALID_JSON"


# (path as sent, Authorization, the operation's own answer): a path parameter holding an encoded ?, #, ; or
# newline reaches its operation (the local gateway routes on the path as sent, as API Gateway does).
MISROUTED_PATHS = {
    "applicant id %3F": ("/applicants/%3F", True, 401),
    "applicant id %23": ("/applicants/%23", True, 401),
    "applicant id %3B": ("/applicants/%3B", True, 401),
    "applicant id %0A": ("/applicants/%0A", True, 401),
    "applicant id %3F without a token": ("/applicants/%3F", False, 401),
    "wave number %3F": ("/waves/%3F/results", False, 400),
    "wave number 1%23": ("/waves/1%23/results", False, 400),
}


@pytest.mark.parametrize(("path", "with_token", "status"), list(MISROUTED_PATHS.values()), ids=list(MISROUTED_PATHS))
def test_an_encoded_delimiter_in_a_path_parameter_reaches_its_operation(
    stack: EmbeddedStack, path: str, with_token: bool, status: int
) -> None:
    headers = {"Authorization": "Bearer not-a-token"} if with_token else {}
    answer = requests.get(stack.api_url + path, headers=headers, timeout=30)
    assert_documented_error(answer, status)


# --- Idempotency-Key: header injection ---------------------------------------------------------------------


def registration_request(stack: EmbeddedStack, key: bytes, seed: int) -> bytes:
    """A valid registration whose only fault is its Idempotency-Key, written byte for byte."""
    body = json.dumps(PopulationGenerator(seed=seed).person().registration()).encode()
    return (
        b"POST /registrations HTTP/1.1\r\nHost: " + host(stack).encode() + b"\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\nIdempotency-Key: " + key + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def test_requests_refuses_to_send_cr_lf_in_a_header(api: Api) -> None:
    # Why the CR/LF cases below go through a raw socket: the client library never sends them.
    with pytest.raises(requests.exceptions.InvalidHeader):
        requests.post(f"{api.base_url}/registrations", data=b"{}", headers={"Idempotency-Key": "a\r\nb: c"}, timeout=5)


# Keys that the app itself sees and must refuse with INVALID_IDEMPOTENCY_KEY.
KEYS_THE_APP_REFUSES = {
    "one over 128": b"k" * 129,
    "8000 characters": b"k" * 8000,
    "non-ASCII UTF-8": "kunci-idempotensi-é-ключ-鍵".encode(),
    "non-ASCII Latin-1": b"kunci-\xe9\xe8-idempotensi",
    "a tab inside": b"kunci\tidempotensi",
    "a space inside": b"kunci idempotensi",
    "empty": b"",
    "CR LF then a short key's next header": b"abc\r\nX-Injected: yes",
    "CR LF CR LF then a smuggled request": b"abc\r\n\r\nGET /waves/current HTTP/1.1\r\nHost: x",
}


@pytest.mark.parametrize("key", list(KEYS_THE_APP_REFUSES.values()), ids=list(KEYS_THE_APP_REFUSES))
def test_a_malformed_idempotency_key_is_refused_with_400(stack: EmbeddedStack, key: bytes) -> None:
    answer = parse_raw(send_raw(stack, registration_request(stack, key, seed=6609)))
    assert answer is not None
    assert error_problems(answer.status, answer.headers.get("content-type"), answer.body) == [], answer
    assert answer.status == 400, answer
    error = json.loads(answer.body)["error"]
    if b"\r\n\r\n" in key:
        # The blank line ends the head: the "body" the server reads is the smuggled request, not JSON.
        assert error["code"] == "INVALID_JSON"
    elif key:
        assert (error["code"], error.get("field")) == ("INVALID_IDEMPOTENCY_KEY", "Idempotency-Key")


# Header lines that gunicorn's HTTP parser refuses before the gateway or the app sees them; the gateway answers
# them in the contract's shape too.
KEYS_THE_HTTP_SERVER_REFUSES = {
    "bare LF": b"kunci-idempotensi\nX-Injected: yes",
    "bare CR": b"kunci-idempotensi\rX-Injected: yes",
    "obsolete line folding": b"kunci-idempotensi\r\n folded",
    "NUL": b"kunci\x00idempotensi",
    "DEL": b"kunci\x7fidempotensi",
    "over 8 KiB": b"k" * 9000,
    "100,000 characters": b"k" * 100_000,
}


@pytest.mark.parametrize("key", list(KEYS_THE_HTTP_SERVER_REFUSES.values()), ids=list(KEYS_THE_HTTP_SERVER_REFUSES))
def test_a_malformed_header_line_gets_a_4xx_or_a_closed_connection(stack: EmbeddedStack, key: bytes) -> None:
    answer = parse_raw(send_raw(stack, registration_request(stack, key, seed=6610)))
    assert answer is None or 400 <= answer.status < 500, answer


@pytest.mark.parametrize("key", list(KEYS_THE_HTTP_SERVER_REFUSES.values()), ids=list(KEYS_THE_HTTP_SERVER_REFUSES))
def test_a_malformed_header_line_is_refused_in_the_documented_shape(stack: EmbeddedStack, key: bytes) -> None:
    answer = parse_raw(send_raw(stack, registration_request(stack, key, seed=6611)))
    assert answer is not None
    assert error_problems(answer.status, answer.headers.get("content-type"), answer.body) == [], answer


def test_a_very_long_idempotency_key_sent_by_requests_is_refused(api: Api) -> None:
    body = PopulationGenerator(seed=6612).person().registration()
    answer = api.http.post(
        f"{api.base_url}/registrations", json=body, headers={"Idempotency-Key": "k" * 4096}, timeout=30
    )
    assert_documented_error(answer, 400, field="Idempotency-Key")


def test_a_non_ascii_idempotency_key_sent_by_requests_is_refused(api: Api) -> None:
    body = PopulationGenerator(seed=6613).person().registration()
    headers: Any = {"Idempotency-Key": "kunci-idempotensi-ключ".encode()}
    answer = api.http.post(f"{api.base_url}/registrations", json=body, headers=headers, timeout=30)
    assert_documented_error(answer, 400, field="Idempotency-Key")


# --- After acceptance: each bad value refused, naming its field --------------------------------------------------

PURCHASE: Route = ("POST", "/partners/purchases", "partner")
CONFIRM: Route = ("POST", f"/partners/purchases/{UNKNOWN_PURCHASE}/confirm", "partner")
COMPLETION: Route = ("POST", "/partners/completions", "partner")
REVIEW: Route = ("POST", "/applicants/{id}/reviews", "applicant")
PAYOUT_ACCOUNT: Route = ("PUT", "/applicants/{id}/payout-account", "applicant")

# Good bodies, of which each case below spoils one thing (with the route's unknown purchase or unheld card, a good
# body gets a 404: nothing is bought, completed, reviewed or revoked).
GOOD_PURCHASE = {
    "card_number": UNHELD_CARD,
    "course_id": "excel-101",
    "course_title": "Microsoft Excel untuk Pemula",
    "price": 400_000,
    "purchase_ref": "hostile-1",
}
GOOD_COMPLETION = {
    "purchase_id": UNKNOWN_PURCHASE,
    "completed_at": "2026-04-20T15:30:00+07:00",
    "certificate_id": "C-1",
}
GOOD_REVIEW = {"purchase_id": UNKNOWN_PURCHASE, "rating": 4, "comment": "Materinya jelas."}
GOOD_ACCOUNT = {"provider": "BNI", "account_number": "1234567890", "code": "123456"}
TEN_THOUSAND = "a" * 10_000


@dataclass(frozen=True)
class BadValue:
    what: str
    route: Route
    body: Any  # the JSON document sent
    status: int
    code: str
    field: str | None


def refused(route: Route, *cases: tuple[str, Any, str, str | None]) -> list[BadValue]:
    """(what, body, code, field) sent to `route`: an unknown purchase or card is a 404, any other fault a 400."""
    return [
        BadValue(what, route, body, 404 if code.endswith("_NOT_FOUND") else 400, code, field)
        for what, body, code, field in cases
    ]


def without(document: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != name}


P, C, R, A = GOOD_PURCHASE, GOOD_COMPLETION, GOOD_REVIEW, GOOD_ACCOUNT
REASON = {"reason": "kartu dijual"}
WRONG_CHECK_DIGIT = UNHELD_CARD[:-1] + str((int(UNHELD_CARD[-1]) + 1) % 10)
BAD_VALUES = [
    *refused(
        PURCHASE,
        ("negative price", {**P, "price": -400_000}, "INVALID_PRICE", "price"),
        ("zero price", {**P, "price": 0}, "INVALID_PRICE", "price"),
        ("fractional price", {**P, "price": 399_999.5}, "WRONG_TYPE", "price"),
        ("whole float price", {**P, "price": 400_000.0}, "WRONG_TYPE", "price"),
        ("price as a string", {**P, "price": "400000"}, "WRONG_TYPE", "price"),
        ("price as a boolean", {**P, "price": True}, "WRONG_TYPE", "price"),
        ("price null", {**P, "price": None}, "WRONG_TYPE", "price"),
        ("no price", without(P, "price"), "MISSING_FIELD", "price"),
        ("unknown card", P, "CARD_NOT_FOUND", "card_number"),
        ("card with dashes", {**P, "card_number": "7000-0000-0000-0005"}, "INVALID_CARD_NUMBER", "card_number"),
        ("card as a number", {**P, "card_number": int(UNHELD_CARD)}, "WRONG_TYPE", "card_number"),
        ("10,000-character course title", {**P, "course_title": TEN_THOUSAND}, "INVALID_COURSE_TITLE", "course_title"),
        ("purchase_ref with a space", {**P, "purchase_ref": "order 1"}, "INVALID_REFERENCE", "purchase_ref"),
        ("unknown field", {**P, "discount": 10}, "UNKNOWN_FIELD", "discount"),
        ("body an array", [P], "INVALID_BODY", None),
    ),
    *refused(
        CONFIRM,
        ("five-digit code", {"code": "12345"}, "INVALID_CODE", "code"),
        ("code as a number", {"code": 123456}, "WRONG_TYPE", "code"),
        ("no code", {}, "MISSING_FIELD", "code"),
        ("unknown field", {"code": "123456", "pin": "1"}, "UNKNOWN_FIELD", "pin"),
        ("unknown purchase", {"code": "123456"}, "PURCHASE_NOT_FOUND", "purchase_id"),
    ),
    *refused(CANCEL, ("unknown purchase", {}, "PURCHASE_NOT_FOUND", "purchase_id")),
    *refused(
        ("POST", "/partners/purchases/not-a-purchase/cancel", "partner"),
        ("malformed purchase id", {}, "PURCHASE_NOT_FOUND", "purchase_id"),
    ),
    *refused(
        COMPLETION,
        ("month 13", {**C, "completed_at": "2026-13-20T15:30:00+07:00"}, "INVALID_DATETIME", "completed_at"),
        ("30 February", {**C, "completed_at": "2026-02-30T15:30:00+07:00"}, "INVALID_DATETIME", "completed_at"),
        ("hour 25", {**C, "completed_at": "2026-04-20T25:30:00+07:00"}, "INVALID_DATETIME", "completed_at"),
        ("without its offset", {**C, "completed_at": "2026-04-20T15:30:00"}, "INVALID_DATETIME", "completed_at"),
        ("a word", {**C, "completed_at": "kemarin"}, "INVALID_DATETIME", "completed_at"),
        ("empty", {**C, "completed_at": ""}, "INVALID_DATETIME", "completed_at"),
        ("completed_at as a number", {**C, "completed_at": 1_776_000_000}, "WRONG_TYPE", "completed_at"),
        ("purchase id as a number", {**C, "purchase_id": 0}, "WRONG_TYPE", "purchase_id"),
        ("certificate id with a space", {**C, "certificate_id": "CERT 1"}, "INVALID_REFERENCE", "certificate_id"),
        ("unknown field", {**C, "score": 90}, "UNKNOWN_FIELD", "score"),
        ("unknown purchase", C, "PURCHASE_NOT_FOUND", "purchase_id"),
    ),
    *refused(
        REVIEW,
        ("rating 0", {**R, "rating": 0}, "INVALID_RATING", "rating"),
        ("rating 6", {**R, "rating": 6}, "INVALID_RATING", "rating"),
        ("rating -1", {**R, "rating": -1}, "INVALID_RATING", "rating"),
        ("rating 4.5", {**R, "rating": 4.5}, "WRONG_TYPE", "rating"),
        ("rating as a string", {**R, "rating": "5"}, "WRONG_TYPE", "rating"),
        ("rating as a boolean", {**R, "rating": True}, "WRONG_TYPE", "rating"),
        ("no rating", without(R, "rating"), "MISSING_FIELD", "rating"),
        ("10,000-character comment", {**R, "comment": TEN_THOUSAND}, "COMMENT_TOO_LONG", "comment"),
        ("comment as a number", {**R, "comment": 5}, "WRONG_TYPE", "comment"),
        ("unknown field", {**R, "stars": 5}, "UNKNOWN_FIELD", "stars"),
        ("unknown purchase", R, "PURCHASE_NOT_FOUND", "purchase_id"),
    ),
    *refused(
        PAYOUT_ACCOUNT,
        ("unknown provider", {**A, "provider": "PAYPAL"}, "UNKNOWN_PROVIDER", "provider"),
        ("provider as a number", {**A, "provider": 9}, "WRONG_TYPE", "provider"),
        *(
            (what, {**A, "account_number": number}, "INVALID_ACCOUNT_NUMBER", "account_number")
            for what, number in (
                ("account number with letters", "12345abc90"),
                ("account number of 7 digits", "1234567"),
                ("account number of 21 digits", "1" * 21),
                ("account number in Arabic-Indic digits", "١٢٣٤٥٦٧٨٩٠"),
                ("account number with a space", "1234 567890"),
            )
        ),
        ("account number as a number", {**A, "account_number": 1_234_567_890}, "WRONG_TYPE", "account_number"),
        ("unknown field", {**A, "holder": "x"}, "UNKNOWN_FIELD", "holder"),
        ("no code", {k: v for k, v in A.items() if k != "code"}, "MISSING_FIELD", "code"),
        ("code as a number", {**A, "code": 123456}, "WRONG_TYPE", "code"),
        ("code of 5 digits", {**A, "code": "12345"}, "INVALID_CODE", "code"),
    ),
    *refused(
        REVOKE,
        ("no reason", {}, "MISSING_FIELD", "reason"),
        ("empty reason", {"reason": ""}, "INVALID_REASON", "reason"),
        ("blank reason", {"reason": "   "}, "INVALID_REASON", "reason"),
        ("10,000-character reason", {"reason": TEN_THOUSAND}, "INVALID_REASON", "reason"),
        ("reason as a number", {"reason": 5}, "WRONG_TYPE", "reason"),
        ("unknown field", {**REASON, "force": True}, "UNKNOWN_FIELD", "force"),
        ("body a string", "kartu dijual", "INVALID_BODY", None),
        ("unknown card", REASON, "CARD_NOT_FOUND", "card_number"),
    ),
    *(
        BadValue(
            what,
            ("POST", f"/admin/memberships/{card}/revoke", "admin"),
            REASON,
            400,
            "INVALID_CARD_NUMBER",
            "card_number",
        )
        for what, card in (
            ("card of 4 digits", "7000"),
            ("card with a wrong check digit", WRONG_CHECK_DIGIT),
            ("card with letters", "7000abcd00000005"),
        )
    ),
]
BAD_VALUE_IDS = [f"{case.route[0]} {case.route[1]}: {case.what}" for case in BAD_VALUES]


@pytest.mark.parametrize("case", BAD_VALUES, ids=BAD_VALUE_IDS)
def test_a_bad_value_after_acceptance_is_refused_naming_its_field(
    stack: EmbeddedStack, credentials: Credentials, case: BadValue
) -> None:
    answer = call(credentials, stack.api_url, case.route, json.dumps(case.body).encode(), JSON_TYPE)
    assert_documented_error(answer, case.status, case.field)
    assert answer.json()["error"]["code"] == case.code


PARTNER_BAD_VALUES = [case for case in BAD_VALUES if case.route[2] == "partner"]


@pytest.mark.parametrize(
    "case", PARTNER_BAD_VALUES, ids=[f"{case.route[1]}: {case.what}" for case in PARTNER_BAD_VALUES]
)
def test_a_bad_value_sent_unsigned_gets_only_the_401(stack: EmbeddedStack, case: BadValue) -> None:
    # The signature is checked before the body is read: a stranger learns nothing about what a body should be.
    answer = requests.post(stack.api_url + case.route[1], json=case.body, timeout=30)
    assert_documented_error(answer, 401)
    assert answer.json()["error"]["code"] == "UNAUTHORISED"
