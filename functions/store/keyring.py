"""Sealed secrets, stored by name; the first writer wins so that every process agrees on one value."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from functions.store.models import KeyringRecord, bind
from functions.store.transactions import save_if


def read_sealed(name: str) -> bytes | None:
    bind()
    try:
        return KeyringRecord.get(name, consistent_read=True).sealed
    except DoesNotExist:
        return None


def store_sealed_once(name: str, sealed: bytes) -> bytes:
    """Stores `sealed` unless another process stored a value first; returns whichever value is kept."""
    if save_if(KeyringRecord(name=name, sealed=sealed), KeyringRecord.name.does_not_exist()):
        return sealed
    kept = read_sealed(name)
    assert kept is not None, "a keyring entry vanished after a conditional write failed"
    return kept
