"""Partners' request signatures, as DESIGN.md writes them: what is signed, and each way a request is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest

from functions.domain.partners import PartnerRejected, Rejection, SignedRequest, new_secret, sign

NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
WINDOW = dt.timedelta(seconds=300)
BODY = b'{"card_number": "4111111111111111", "price": 250000}'
PATH = "/partners/purchases"


def headers(
    secret: str, *, timestamp: int | None = None, partner: str = "skill-academy", body: bytes = BODY
) -> dict[str, str]:
    stamp = str(int(NOW.timestamp()) if timestamp is None else timestamp)
    return {"x-partner-id": partner, "x-timestamp": stamp, "x-signature": sign(secret, stamp, "POST", PATH, body)}


def test_the_signature_is_the_briefs_hmac_over_timestamp_method_path_and_body_hash() -> None:
    secret = new_secret()
    expected = hmac.new(
        secret.encode(),
        f"1764558000\nPOST\n{PATH}\n{hashlib.sha256(BODY).hexdigest()}".encode(),
        hashlib.sha256,
    ).hexdigest()
    assert sign(secret, "1764558000", "post", PATH, BODY) == expected


def test_a_rightly_signed_fresh_request_passes_every_check() -> None:
    secret = new_secret()
    request = SignedRequest.of(headers(secret), "POST", PATH, BODY)
    request.check_fresh(NOW, WINDOW)
    request.check_signature(secret)
    assert request.partner_id == "skill-academy"


@pytest.mark.parametrize(
    "changed",
    [
        {"x-partner-id": ""},
        {"x-partner-id": "Skill Academy"},
        {"x-timestamp": "soon"},
        {"x-timestamp": ""},
        {"x-signature": "abc"},
        {"x-signature": "z" * 64},
    ],
)
def test_missing_or_misshapen_headers_are_malformed(changed: dict[str, str]) -> None:
    given = {**headers(new_secret()), **changed}
    with pytest.raises(PartnerRejected) as refused:
        SignedRequest.of(given, "POST", PATH, BODY)
    assert refused.value.why is Rejection.MALFORMED


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_a_timestamp_outside_the_window_is_stale(skew: int) -> None:
    secret = new_secret()
    request = SignedRequest.of(headers(secret, timestamp=int(NOW.timestamp()) + skew), "POST", PATH, BODY)
    with pytest.raises(PartnerRejected) as refused:
        request.check_fresh(NOW, WINDOW)
    assert refused.value.why is Rejection.STALE


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_a_timestamp_at_the_edge_of_the_window_is_fresh(skew: int) -> None:
    secret = new_secret()
    SignedRequest.of(headers(secret, timestamp=int(NOW.timestamp()) + skew), "POST", PATH, BODY).check_fresh(
        NOW, WINDOW
    )


def test_another_body_path_method_or_secret_is_a_bad_signature() -> None:
    secret = new_secret()
    signed = headers(secret)
    for method, path, body, key in [
        ("POST", PATH, BODY + b" ", secret),
        ("POST", "/partners/completions", BODY, secret),
        ("PUT", PATH, BODY, secret),
        ("POST", PATH, BODY, new_secret()),
    ]:
        with pytest.raises(PartnerRejected) as refused:
            SignedRequest.of(signed, method, path, body).check_signature(key)
        assert refused.value.why is Rejection.BAD_SIGNATURE


def test_an_unknown_partner_is_refused_after_the_same_comparison() -> None:
    request = SignedRequest.of(headers(new_secret()), "POST", PATH, BODY)
    with pytest.raises(PartnerRejected) as refused:
        request.check_signature(None)
    assert refused.value.why is Rejection.UNKNOWN_PARTNER


def test_the_replay_key_is_not_the_signature_and_differs_per_partner() -> None:
    secret = new_secret()
    one = SignedRequest.of(headers(secret), "POST", PATH, BODY)
    other = SignedRequest.of({**headers(secret), "x-partner-id": "kelas-online"}, "POST", PATH, BODY)
    assert one.signature not in one.replay_key()
    assert one.replay_key() != other.replay_key()
