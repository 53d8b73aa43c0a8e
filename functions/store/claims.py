"""Identity claims: one account per NIK, per email and per phone, each held by a guard item (the key's keyed hash)
naming the applicant that claimed it.

Nothing is claimed at registration, so nobody can block a person by registering their NIK, email or phone first:
verifying the email claims the email and the phone, and the civil registry's confirmation claims the NIK. A
registration refused, or whose NIK the registry rejects, gives back what it claimed. These are the parts that
the store's status changes put into their transactions (`store.applicants`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pynamodb.transactions import TransactWrite

from functions.aws_clients import client
from functions.domain.lifecycle import UNIQUE_KEYS
from functions.settings import settings
from functions.store.models import IdentityGuardRecord, bind, identity_guard_key, release_key
from functions.store.transactions import Build


def held_identity_keys(hashes: Mapping[str, str], except_for: str | None = None) -> list[str]:
    """Which of the identity keys (in reporting order) an applicant other than `except_for` has claimed.

    A claim that failed asks this (`store.applicants`): a BatchGetItem (eventually consistent, as pynamodb's
    `batch_get` made it) sent with the process's boto3 client rather than through pynamodb's model layer and its
    own second client (about 20 µs less a call, measured when every registration asked it). Only two attributes
    are read, so no model is needed to decode them."""
    table = settings().identity_guards_table
    keys = [identity_guard_key(kind, hashes[kind]) for kind in UNIQUE_KEYS]
    held: set[str] = set()
    asked: dict[str, Any] | None = {"Keys": [{"guard": {"S": key}} for key in keys]}
    while asked:  # until DynamoDB has answered every key (it may leave some unprocessed under load)
        answer = client("dynamodb").batch_get_item(RequestItems={table: asked})
        held.update(
            item["guard"]["S"]
            for item in answer["Responses"].get(table, [])
            if item.get("applicant_id", {}).get("S") != except_for
        )
        asked = answer.get("UnprocessedKeys", {}).get(table)
    return [kind for kind, key in zip(UNIQUE_KEYS, keys, strict=True) if key in held]


def holders(hashes: Mapping[str, str], kinds: Sequence[str]) -> dict[str, str]:
    """Which applicant claimed each of `kinds` that is claimed (kind -> applicant id), in one read."""
    bind()
    by_key = {identity_guard_key(kind, hashes[kind]): kind for kind in kinds}
    return {by_key[found.guard]: found.applicant_id for found in IdentityGuardRecord.batch_get(list(by_key))}


def holder(kind: str, keyed_hash: str) -> str | None:
    """The applicant that claimed the key, if any."""
    return holders({kind: keyed_hash}, (kind,)).get(kind)


def _unclaimed_or(applicant_id: str) -> Any:
    return IdentityGuardRecord.guard.does_not_exist() | (IdentityGuardRecord.applicant_id == applicant_id)


def claim(hashes: Mapping[str, str], kinds: Sequence[str], applicant_id: str, now: dt.datetime) -> Build:
    """The transaction's part that claims `kinds` for the applicant: it fails the transaction when another
    applicant holds one of them; claiming again what the applicant holds already changes nothing."""

    def claiming(transaction: TransactWrite) -> None:
        for kind in kinds:
            transaction.save(
                IdentityGuardRecord(
                    guard=identity_guard_key(kind, hashes[kind]), applicant_id=applicant_id, claimed_at=now
                ),
                condition=IdentityGuardRecord.guard.does_not_exist()
                | (IdentityGuardRecord.applicant_id == applicant_id),
            )

    return claiming


def give_back(hashes: Mapping[str, str], kinds: Sequence[str], applicant_id: str) -> Build:
    """The transaction's part that gives back what the applicant claimed of `kinds` (what it never claimed stays
    unclaimed; a key another applicant holds fails the transaction, which cannot happen while claims are taken
    only through these parts)."""

    def giving_back(transaction: TransactWrite) -> None:
        for kind in kinds:
            transaction.delete(
                IdentityGuardRecord(guard=identity_guard_key(kind, hashes[kind])),
                condition=IdentityGuardRecord.guard.does_not_exist()
                | (IdentityGuardRecord.applicant_id == applicant_id),
            )

    return giving_back


def record_release(nik_hash: str, applicant_id: str, admin: str, reason: str, now: dt.datetime) -> Build:
    """The transaction's part that records who released a NIK claim, why and when (kept with the guards)."""

    def recording(transaction: TransactWrite) -> None:
        transaction.save(
            IdentityGuardRecord(
                guard=release_key(nik_hash, now.isoformat()),
                applicant_id=applicant_id,
                claimed_at=now,
                released_by=admin,
                release_reason=reason,
            ),
            condition=IdentityGuardRecord.guard.does_not_exist(),
        )

    return recording
