"""Failed attempts, counted per subject in time windows (brute force on tokens and codes is throttled).

The counts live in the counters table under `<kind>#<hashed subject>#<window>` and expire through the table's
TTL. A subject is counted whether or not it exists, so the answers never tell an unknown id from a known one.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from functions.store.models import CounterRecord, bind


def count_failure(kind: str, subject: str, window_seconds: int, now: dt.datetime) -> int:
    """Adds one failed attempt against `subject` in the current window; returns the window's count."""
    bind()
    window = int(now.timestamp()) // window_seconds
    hashed = hashlib.sha256(subject.encode()).hexdigest()[:32]
    record = CounterRecord(counter=f"{kind}#{hashed}#{window}")
    record.update(
        actions=[
            CounterRecord.total.add(1),
            CounterRecord.expires_at.set((window + 2) * window_seconds),
        ]
    )
    return int(record.total)
