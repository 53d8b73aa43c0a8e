"""Partners' signing secrets, sealed under the personal-data key and bound to their partner by the encryption
context (purpose `partner-secret`): a sealed secret copied onto another partner's record does not open."""

from __future__ import annotations

import functools
from typing import Any

from functions import caches
from functions.adapters.purposes import Purpose
from functions.aws_clients import client
from functions.settings import settings


def _context(partner_id: str) -> dict[str, str]:
    return {"purpose": Purpose.PARTNER_SECRET.value, "partner": partner_id}


def seal(partner_id: str, secret: str) -> bytes:
    kms: Any = client("kms")
    answer = kms.encrypt(
        KeyId=settings().personal_data_key_id, Plaintext=secret.encode(), EncryptionContext=_context(partner_id)
    )
    sealed: bytes = answer["CiphertextBlob"]
    return sealed


@functools.lru_cache(maxsize=64)
def open_secret(partner_id: str, sealed: bytes) -> str:
    """Opened once per process and sealed value: a rotated secret is a new sealed value, so it is opened anew."""
    plaintext: bytes = client("kms").decrypt(CiphertextBlob=sealed, EncryptionContext=_context(partner_id))["Plaintext"]
    return plaintext.decode()


caches.forgotten_by_reset(open_secret.cache_clear)
