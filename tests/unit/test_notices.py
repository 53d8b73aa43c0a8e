"""Notice texts state the rule values they are given (from the settings), never literals of their own."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest

from devstack.provision import ROOT
from functions.domain import notices, rules


def test_an_age_refusal_states_the_configured_age_range() -> None:
    refused = notices.NikResult(applicant_id="a" * 32, status="INELIGIBLE", reason="AGE")
    assert "(18-64 tahun)" in refused.render(SimpleNamespace(min_age=18, max_age=64)).text
    assert "(21-60 tahun)" in refused.render(SimpleNamespace(min_age=21, max_age=60)).text


def test_the_resend_limit_with_the_regulations_values_is_the_documented_message() -> None:
    # openapi.yaml's example of the 429: `error: {code: RESEND_LIMIT, message: ...}`
    (example,) = re.findall(r"error: \{code: RESEND_LIMIT, message: ([^}]+)\}", (ROOT / "openapi.yaml").read_text())
    interval = dt.timedelta(seconds=rules.EMAIL_CODE_RESEND_INTERVAL_SECONDS)
    assert notices.resend_limit(interval, rules.EMAIL_CODE_RESENDS_PER_DAY) == example


@pytest.mark.parametrize(
    ("seconds", "per_day", "text"),
    [
        (60, 5, "once a minute and five times a day"),
        (300, 2, "once every 5 minutes and twice a day"),
        (3600, 1, "once an hour and once a day"),
        (90, 12, "once every 90 seconds and 12 times a day"),
    ],
)
def test_the_resend_limit_states_the_configured_limits(seconds: int, per_day: int, text: str) -> None:
    assert notices.resend_limit(dt.timedelta(seconds=seconds), per_day) == f"a new code can be sent {text}"


def test_a_released_claim_tells_the_registration_where_to_object_naming_only_its_id() -> None:
    notice = notices.ClaimReleased(applicant_id="6f1c0d6a3b9e4f0c8a2d7e5b1c9f3a47").render(SimpleNamespace())
    assert "6f1c0d6a3b9e4f0c8a2d7e5b1c9f3a47" in notice.text
    assert "layanan pengaduan Kartu Prakerja" in notice.text
    # Nothing else that identifies anyone: no digits but the registration's id
    assert re.findall(r"\d+", notice.text.replace("6f1c0d6a3b9e4f0c8a2d7e5b1c9f3a47", "")) == []


def test_a_sign_in_code_states_its_life() -> None:
    sign_in = notices.SignInCode(applicant_id="a" * 32, code_id="c" * 32, sealed_code="sealed")
    notice = sign_in.render("482913", SimpleNamespace(sign_in_code_ttl_seconds=600))
    assert "482913" in notice.text and "10 menit" in notice.text


@pytest.mark.parametrize(
    ("named", "what"),
    [(("email",), "alamat email"), (("phone",), "nomor ponsel"), (("email", "phone"), "alamat email dan nomor ponsel")],
)
def test_a_registration_attempt_tells_the_holder_what_was_named_and_nothing_of_the_attempt(
    named: tuple[str, ...], what: str
) -> None:
    attempt = notices.RegistrationAttempt(applicant_id="a" * 32, attempt_id="b" * 32, named=named)
    notice = attempt.render(SimpleNamespace())
    assert f"dengan {what} Anda." in notice.text
    # Only fixed words: the notice is given nothing of the other registration to show
    assert not re.search(r"[0-9@+]", notice.subject + notice.text)


def test_a_duplicate_nik_is_told_how_to_report_that_it_was_not_them() -> None:
    refused = notices.NikResult(applicant_id="a" * 32, status="REJECTED", reason="DUPLICATE_NIK")
    text = refused.render(SimpleNamespace(min_age=18, max_age=64)).text
    assert "sudah terdaftar pada akun lain" in text and "laporkan" in text
