"""The partner routes' one check, against moto: a partner created by the operator's command signs; an unknown
partner, a wrong signature, a stale timestamp and a replay all get the same 401, each counted, none logged with
its signature."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from typing import Any

import pytest

from functions.domain.errors import NotAuthorised
from functions.domain.partners import sign
from functions.services import partner_auth
from functions.store import partners
from functions.web import status_of

PATH = "/partners/purchases"
BODY = b'{"purchase_ref": "order-1"}'


def signed(
    secret: str, partner: str = "skill-academy", *, at: dt.datetime | None = None, body: bytes = BODY
) -> dict[str, str]:
    stamp = str(int((at or dt.datetime.now(dt.UTC)).timestamp()))
    return {"x-partner-id": partner, "x-timestamp": stamp, "x-signature": sign(secret, stamp, "POST", PATH, body)}


def refused(headers: dict[str, str], body: bytes = BODY) -> NotAuthorised:
    with pytest.raises(NotAuthorised) as refusal:
        partner_auth.authenticate(headers, "POST", PATH, body)
    return refusal.value


def test_a_partners_signed_request_is_taken_once(aws: dict[str, str]) -> None:
    # Given a partner the operator created
    secret = partner_auth.create_or_rotate("skill-academy", "Skill Academy")
    headers = signed(secret)
    # When it signs a request, that request is its own
    assert partner_auth.authenticate(headers, "POST", PATH, BODY) == "skill-academy"
    # Then the very same request again is a replay
    assert status_of(refused(headers)) == 401


def test_every_failure_is_the_same_401(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    secret = partner_auth.create_or_rotate("skill-academy")
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=301)
    answers = [
        refused(signed(secret, "nobody-here")),  # unknown partner
        refused(signed(secret, body=b"{}")),  # signed another body
        refused(signed(secret, at=stale)),  # stale
        refused({"x-partner-id": "skill-academy"}),  # malformed
    ]
    assert {(status_of(a), a.code, a.message) for a in answers} == {(401, "UNAUTHORISED", partner_auth.REFUSED)}
    logged = capsys.readouterr()
    for request in (signed(secret, "nobody-here"), signed(secret, body=b"{}")):
        assert request["x-signature"] not in logged.out + logged.err


def test_refusals_are_counted_by_reason(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from functions.observability import metrics

    secret = partner_auth.create_or_rotate("skill-academy")
    metrics.clear_metrics()  # what earlier tests added and nobody flushed
    refused(signed(secret, body=b"{}"))
    metrics.flush_metrics()
    emitted: list[dict[str, Any]] = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    names = {name for blob in emitted for name in blob if name.startswith("PartnerRequestRefused")}
    assert names == {"PartnerRequestRefused", "PartnerRequestRefused_bad_signature"}


def test_a_rotated_secret_replaces_the_old_one_at_once(aws: dict[str, str]) -> None:
    old = partner_auth.create_or_rotate("skill-academy", "Skill Academy")
    created = partners.find("skill-academy")
    new = partner_auth.create_or_rotate("skill-academy")
    rotated = partners.find("skill-academy")
    assert new != old
    assert created is not None and rotated is not None
    assert rotated.created_at == created.created_at and rotated.rotated_at >= created.rotated_at
    assert rotated.display_name == "Skill Academy"
    assert status_of(refused(signed(old))) == 401
    assert partner_auth.authenticate(signed(new), "POST", PATH, BODY) == "skill-academy"


def test_the_secret_is_stored_only_sealed(aws: dict[str, str]) -> None:
    secret = partner_auth.create_or_rotate("skill-academy")
    stored = partners.find("skill-academy")
    assert stored is not None and secret.encode() not in stored.sealed_secret


def test_the_operator_command_creates_a_partner_and_prints_its_secret_once(aws: dict[str, str]) -> None:
    # The command runs in its own process against moto's in-process state only through the same functions, so it
    # is called as the module's main with the arguments a person would type.
    from ops import __main__ as ops_main

    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as exited:
        patch.setattr(sys, "argv", ["python -m ops", "partner-secret", "--partner", "Not A Valid Id"])
        ops_main.main()
    assert exited.value.code == 2
    printed = subprocess.run(
        [sys.executable, "-m", "ops", "partner-secret", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--partner" in printed


def test_the_operator_command_prints_a_working_secret(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from ops import __main__ as ops_main

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["python -m ops", "partner-secret", "--partner", "kelas-online"])
        ops_main.main()
    secret = capsys.readouterr().out.strip()
    assert len(secret) == 64
    assert partner_auth.authenticate(signed(secret, "kelas-online"), "POST", PATH, BODY) == "kelas-online"
