"""Failed attempts, counted per subject in time windows (brute force on tokens and codes is throttled), and the
slots that bound how many of something a subject holds at once (a card's purchases awaiting its code, the codes
it was sent in the last hour).

The counts live in the counters table under `<kind>#<hashed subject>#<window>` and expire through the table's
TTL. A subject is counted whether or not it exists, so the answers never tell an unknown id from a known one.
A subject's slots are `<kind>#<hashed subject>#slot<n>`, each held by one holder until its `expires_at`: a slot
is taken by a conditional put in the caller's transaction, so concurrent requests cannot hold more than there are.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from pynamodb.transactions import TransactWrite

from functions.store.models import CounterRecord, attempts_key, bind, slot_key
from functions.store.transactions import Build, update_if


def _hashed(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()[:32]


def count_failure(kind: str, subject: str, window_seconds: int, now: dt.datetime) -> int:
    """Adds one failed attempt against `subject` in the current window; returns the window's count."""
    bind()
    window = int(now.timestamp()) // window_seconds
    record = CounterRecord(counter=attempts_key(kind, _hashed(subject), window))
    record.update(
        actions=[
            CounterRecord.total.add(1),
            CounterRecord.expires_at.set((window + 2) * window_seconds),
        ]
    )
    return int(record.total)


def _slot_keys(kind: str, subject: str, slots: int) -> list[str]:
    return [slot_key(kind, _hashed(subject), index) for index in range(slots)]


def _held(kind: str, subject: str, slots: int, now: dt.datetime) -> dict[str, CounterRecord]:
    """The subject's slots held at `now`, by key."""
    bind()
    moment = int(now.timestamp())
    records = CounterRecord.batch_get(_slot_keys(kind, subject, slots), consistent_read=True)
    return {record.counter: record for record in records if int(record.expires_at or 0) > moment}


def free_slot(kind: str, subject: str, slots: int, now: dt.datetime) -> str | dt.datetime:
    """The key of one of the subject's `slots` that is free at `now`, or, when all are held, when one frees."""
    held = _held(kind, subject, slots, now)
    free = [key for key in _slot_keys(kind, subject, slots) if key not in held]
    if free:
        return free[0]
    return dt.datetime.fromtimestamp(min(int(record.expires_at) for record in held.values()), dt.UTC)


def taking_slot(key: str, holder: str, until: dt.datetime, now: dt.datetime) -> Build:
    """The transaction's part that takes the slot `key` for `holder` until `until`, only if it is free at `now`
    (its condition fails when another took it first)."""

    def taking(transaction: TransactWrite) -> None:
        transaction.save(
            CounterRecord(counter=key, holder=holder, expires_at=int(until.timestamp())),
            condition=CounterRecord.counter.does_not_exist() | (CounterRecord.expires_at <= int(now.timestamp())),
        )

    return taking


def release_slot(kind: str, subject: str, slots: int, holder: str, now: dt.datetime) -> None:
    """Frees the subject's slot `holder` holds, if it still does (a slot not freed frees itself at its expiry)."""
    for key, record in _held(kind, subject, slots, now).items():
        if record.holder == holder:
            update_if(CounterRecord(counter=key), [CounterRecord.expires_at.set(0)], CounterRecord.holder == holder)
