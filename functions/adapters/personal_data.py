"""Personal data at rest: envelope encryption under the KMS key, keyed hashes for look-ups, access tokens.

Envelope encryption is written here with `cryptography`'s AES-GCM rather than the AWS Encryption SDK: a burst of
registrations needs one KMS data key to seal many records (the SDK does that only through its caching materials
manager, another dependency), and its message header would add some 400 bytes to each record and queue message.
The scheme is the standard one: a KMS-generated AES-256 data key, a fresh 96-bit nonce per record, the record's
owner (applicant id) as associated data, and the KMS-encrypted data key stored beside the ciphertext. Each kind of
secret has data keys of its own, generated under its purpose (`adapters.purposes`), so a role allowed to open one
kind cannot open another.

Secrets that must stay the same across processes (the look-up pepper, the token key) are data keys too,
generated once, stored sealed in the keyring table and opened with KMS on a cold start.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from functions import caches
from functions.adapters.purposes import Purpose
from functions.aws_clients import client
from functions.domain.access import TokenGrant
from functions.settings import settings
from functions.store import keyring

_FORMAT_VERSION = 1
_NONCE_BYTES = 12
# A data key seals at most this many records, or for this long, before the next one is generated.
_DATA_KEY_MAX_USES = 100_000
_DATA_KEY_MAX_AGE_SECONDS = 600.0


def _kms() -> Any:
    return client("kms")


@dataclass
class _DataKey:
    plaintext: bytes
    sealed: bytes
    born: float
    uses: int = 0


def _context(purpose: Purpose) -> dict[str, str]:
    return {"purpose": purpose.value}


class _Envelope:
    """The data keys of one kind of secret."""

    def __init__(self, purpose: Purpose) -> None:
        self._purpose = purpose
        self._lock = threading.Lock()
        self._current: _DataKey | None = None

    def _data_key(self) -> _DataKey:
        with self._lock:
            key = self._current
            if key is None or key.uses >= _DATA_KEY_MAX_USES or time.monotonic() - key.born > _DATA_KEY_MAX_AGE_SECONDS:
                answer = _kms().generate_data_key(
                    KeyId=settings().personal_data_key_id,
                    KeySpec="AES_256",
                    EncryptionContext=_context(self._purpose),
                )
                key = _DataKey(answer["Plaintext"], answer["CiphertextBlob"], time.monotonic())
                self._current = key
            key.uses += 1
            return key

    def seal(self, plaintext: bytes, owner: str) -> bytes:
        key = self._data_key()
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(key.plaintext).encrypt(nonce, plaintext, owner.encode())
        return bytes([_FORMAT_VERSION]) + len(key.sealed).to_bytes(2, "big") + key.sealed + nonce + ciphertext

    def open(self, sealed: bytes, owner: str) -> bytes:
        if not sealed or sealed[0] != _FORMAT_VERSION:
            raise ValueError("unknown sealed format")
        key_length = int.from_bytes(sealed[1:3], "big")
        sealed_key = sealed[3 : 3 + key_length]
        nonce = sealed[3 + key_length : 3 + key_length + _NONCE_BYTES]
        ciphertext = sealed[3 + key_length + _NONCE_BYTES :]
        return AESGCM(_open_data_key(sealed_key, self._purpose)).decrypt(nonce, ciphertext, owner.encode())


@functools.lru_cache(maxsize=256)
def _open_data_key(sealed_key: bytes, purpose: Purpose) -> bytes:
    answer = _kms().decrypt(CiphertextBlob=sealed_key, EncryptionContext=_context(purpose))
    plaintext: bytes = answer["Plaintext"]
    return plaintext


_envelopes: dict[Purpose, _Envelope] = {}
_envelopes_lock = threading.Lock()


def _envelope(purpose: Purpose) -> _Envelope:
    with _envelopes_lock:
        return _envelopes.setdefault(purpose, _Envelope(purpose))


def seal_json(payload: dict[str, Any], owner: str, purpose: Purpose) -> bytes:
    return _envelope(purpose).seal(json.dumps(payload, separators=(",", ":")).encode(), owner)


def open_json(sealed: bytes, owner: str, purpose: Purpose) -> dict[str, Any]:
    opened: dict[str, Any] = json.loads(_envelope(purpose).open(sealed, owner))
    return opened


def seal_text(value: str, owner: str, purpose: Purpose) -> str:
    """For queue messages and string attributes: the sealed bytes as base64 text."""
    return base64.b64encode(_envelope(purpose).seal(value.encode(), owner)).decode()


def open_text(sealed: str, owner: str, purpose: Purpose) -> str:
    return _envelope(purpose).open(base64.b64decode(sealed), owner).decode()


_keyring_lock = threading.Lock()


@caches.per_process
def keyring_secret(purpose: Purpose) -> bytes:
    """A 32-byte secret shared by every process, created on first use and kept sealed in the keyring table."""
    with _keyring_lock:
        context = _context(purpose)
        sealed = keyring.read_sealed(purpose.keyring_name)
        if sealed is None:
            generated = _kms().generate_data_key(
                KeyId=settings().personal_data_key_id, KeySpec="AES_256", EncryptionContext=context
            )
            sealed = keyring.store_sealed_once(purpose.keyring_name, generated["CiphertextBlob"])
        plaintext: bytes = _kms().decrypt(CiphertextBlob=sealed, EncryptionContext=context)["Plaintext"]
        return plaintext


def lookup_hash(kind: str, value: str) -> str:
    """Keyed hash for uniqueness and look-ups: equal inputs meet, and nobody without the pepper can test a guess.

    The pepper never rotates: every stored look-up would change with it.
    """
    return hmac.new(keyring_secret(Purpose.LOOKUP_PEPPER), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


_TOKEN_NONCE_BYTES = 16
_TOKEN_ISSUED_BYTES = 8  # epoch seconds
_TOKEN_GENERATION_BYTES = 4
_TOKEN_MAC_BYTES = 16
_TOKEN_CLAIMS_BYTES = _TOKEN_NONCE_BYTES + _TOKEN_ISSUED_BYTES + _TOKEN_GENERATION_BYTES


def _token_mac(applicant_id: str, claims: bytes) -> bytes:
    return hmac.new(keyring_secret(Purpose.ACCESS_TOKEN_KEY), applicant_id.encode() + claims, hashlib.sha256).digest()[
        :_TOKEN_MAC_BYTES
    ]


def new_access_token(applicant_id: str, grant: TokenGrant) -> str:
    """A random bearer token that carries its grant (when issued, which generation), bound to its applicant by a
    MAC: nothing about it is stored, so a registration still in the queue can be answered and any number of tokens
    may be valid at once (`domain.access`)."""
    claims = (
        secrets.token_bytes(_TOKEN_NONCE_BYTES)
        + int(grant.issued_at.timestamp()).to_bytes(_TOKEN_ISSUED_BYTES, "big")
        + grant.generation.to_bytes(_TOKEN_GENERATION_BYTES, "big")
    )
    return base64.urlsafe_b64encode(claims + _token_mac(applicant_id, claims)).rstrip(b"=").decode()


def token_grant(token: str, applicant_id: str) -> TokenGrant | None:
    """The grant of a token the server issued for this applicant; None for any other (checked in constant time)."""
    expected_length = _TOKEN_CLAIMS_BYTES + _TOKEN_MAC_BYTES
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
    except ValueError:
        raw = b""
    well_formed = len(raw) == expected_length
    if not well_formed:
        raw = bytes(expected_length)  # still compute a MAC, so a malformed token takes as long as a wrong one
    claims, mac = raw[:_TOKEN_CLAIMS_BYTES], raw[_TOKEN_CLAIMS_BYTES:]
    if not (hmac.compare_digest(_token_mac(applicant_id, claims), mac) and well_formed):
        return None
    issued = int.from_bytes(claims[_TOKEN_NONCE_BYTES : _TOKEN_NONCE_BYTES + _TOKEN_ISSUED_BYTES], "big")
    generation = int.from_bytes(claims[_TOKEN_NONCE_BYTES + _TOKEN_ISSUED_BYTES :], "big")
    return TokenGrant(dt.datetime.fromtimestamp(issued, dt.UTC), generation)


def _forget_keys() -> None:
    """Forgets the data keys held in memory (tests that switch to another local stack)."""
    with _envelopes_lock:
        _envelopes.clear()
    _open_data_key.cache_clear()


caches.forgotten_by_reset(_forget_keys)
