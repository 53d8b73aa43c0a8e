"""Training partners and their signed requests (openapi.yaml, tag `partners`).

Each request carries `X-Partner-Id`, `X-Timestamp` (unix seconds) and `X-Signature`, the hex HMAC-SHA256 under the
partner's secret of: timestamp, method, path and the hex SHA-256 of the body, joined by newlines. A request is
taken only when its partner is known, its timestamp is within the window of now, its signature is right (compared
in constant time) and that signature has not been seen within the window; every failure gets the same answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

PARTNER_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
# What a partner that does not exist is checked against, so that an unknown id costs the same as a wrong signature.
_NOBODY_SECRET = b"\0" * 32


@dataclass(frozen=True)
class Partner:
    """A partner as stored: its secret only sealed."""

    partner_id: str
    display_name: str
    sealed_secret: bytes
    created_at: dt.datetime
    rotated_at: dt.datetime


class Rejection(StrEnum):
    """Why a partner's request was refused: counted, never told (the answer is the same for each)."""

    MALFORMED = "malformed"
    STALE = "stale"
    UNKNOWN_PARTNER = "unknown_partner"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"


class PartnerRejected(Exception):
    def __init__(self, why: Rejection) -> None:
        super().__init__(why.value)
        self.why = why


def new_secret() -> str:
    """A partner's signing secret, shown once: 256 bits from a CSPRNG, as hex (the HMAC key is this text)."""
    return secrets.token_hex(32)


def string_to_sign(timestamp: str, method: str, path: str, body: bytes) -> bytes:
    return "\n".join((timestamp, method.upper(), path, hashlib.sha256(body).hexdigest())).encode()


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    return hmac.new(secret.encode(), string_to_sign(timestamp, method, path, body), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    partner_id: str
    timestamp: str
    signature: str
    method: str
    path: str
    body: bytes

    @classmethod
    def of(cls, headers: Mapping[str, str], method: str, path: str, body: bytes) -> SignedRequest:
        """The signed parts of a request; MALFORMED when a header is missing or not of its shape."""
        partner_id = headers.get("x-partner-id", "")
        timestamp = headers.get("x-timestamp", "")
        signature = headers.get("x-signature", "").lower()
        if not (
            PARTNER_ID.fullmatch(partner_id) and _TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)
        ):
            raise PartnerRejected(Rejection.MALFORMED)
        return cls(partner_id, timestamp, signature, method, path, body)

    def check_fresh(self, now: dt.datetime, window: dt.timedelta) -> None:
        if abs(now.timestamp() - int(self.timestamp)) > window.total_seconds():
            raise PartnerRejected(Rejection.STALE)

    def check_signature(self, secret: str | None) -> None:
        """The signature under `secret` (None: no such partner), in constant time either way."""
        key = secret.encode() if secret is not None else _NOBODY_SECRET
        expected = hmac.new(key, string_to_sign(self.timestamp, self.method, self.path, self.body), hashlib.sha256)
        matches = hmac.compare_digest(expected.hexdigest(), self.signature)
        if secret is None:
            raise PartnerRejected(Rejection.UNKNOWN_PARTNER)
        if not matches:
            raise PartnerRejected(Rejection.BAD_SIGNATURE)

    def replay_key(self) -> str:
        """What the replay guard remembers: a hash of the signature (never the signature itself)."""
        return hashlib.sha256(f"{self.partner_id}:{self.signature}".encode()).hexdigest()
