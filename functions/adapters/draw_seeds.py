"""Draw seeds: 32 random bytes from KMS, kept only sealed by the KMS key until the wave closes.

The seed is a KMS data key: KMS generates it, we publish its SHA-256 (the commitment) at once and keep only the
encrypted copy, bound to its wave by the encryption context; nobody can know it before close, not even us.
"""

from __future__ import annotations

from typing import Any

from functions.adapters.purposes import Purpose
from functions.aws_clients import client
from functions.domain.draw import commitment
from functions.settings import settings


def _context(wave: int) -> dict[str, str]:
    return {"purpose": Purpose.DRAW_SEED.value, "wave": str(wave)}


def new_seed(wave: int) -> tuple[str, bytes]:
    """(commitment, sealed seed) for a new wave; the seed itself is not kept."""
    kms: Any = client("kms")
    answer = kms.generate_data_key(
        KeyId=settings().draw_seed_key_id, KeySpec="AES_256", EncryptionContext=_context(wave)
    )
    return commitment(answer["Plaintext"]), answer["CiphertextBlob"]


def reveal(wave: int, sealed: bytes) -> bytes:
    seed: bytes = client("kms").decrypt(CiphertextBlob=sealed, EncryptionContext=_context(wave))["Plaintext"]
    return seed
