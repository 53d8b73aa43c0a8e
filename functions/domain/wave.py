"""A wave (gelombang): its states, what is due next, and `Wave`, the value the store returns.

OPEN (joins taken) -> CLOSED (pool frozen; its parts read by workers, `functions.domain.pool_parts`) -> SELECTED
(seed revealed, drawn from the parts, files written) -> PUBLISHED (every applicant accepted or carried over). The
calendar that times them is `functions.domain.calendar`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from functions.domain.calendar import WaveTimes
from functions.domain.pool_parts import all_read

MAX_WAVE = 999  # weekly waves: some twenty years of them


class WaveState(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    SELECTED = "SELECTED"
    PUBLISHED = "PUBLISHED"


class Step(StrEnum):
    CLOSE = "close"
    READ = "read"
    DRAW = "draw"
    PUBLISH = "publish"
    WAIT = "wait"


class PoolReading(StrEnum):
    """How far a closed wave's pool has been read into parts."""

    NOT_QUEUED = "not queued"
    UNDER_WAY = "under way"
    DONE = "done"


def next_step(
    state: WaveState,
    closes_at: dt.datetime,
    publish_at: dt.datetime,
    now: dt.datetime,
    reading: PoolReading = PoolReading.NOT_QUEUED,
) -> Step:
    """What is due for the oldest wave not yet published; waves advance strictly in order. A closed wave's pool
    is read in parts first (`reading`), and drawn once every part is in."""
    if state is WaveState.OPEN:
        return Step.CLOSE if now >= closes_at else Step.WAIT
    if state is WaveState.CLOSED:
        return {PoolReading.NOT_QUEUED: Step.READ, PoolReading.UNDER_WAY: Step.WAIT, PoolReading.DONE: Step.DRAW}[
            reading
        ]
    if state is WaveState.SELECTED:
        return Step.PUBLISH if now >= publish_at else Step.WAIT
    return Step.WAIT


@dataclass(frozen=True)
class DrawOutcome:
    """What the draw settled, recorded on the wave when it moves CLOSED -> SELECTED."""

    seed: str  # hex, revealed
    pool_size: int
    pool_digest: str
    selected_count: int
    manifest_key: str
    ranked_list_key: str


@dataclass(frozen=True)
class EarlyClose:
    """An admin's close before the wave's `closes_at` (`force`): who, why and when, published in the manifest."""

    by: str
    reason: str
    at: dt.datetime

    def as_manifest(self) -> dict[str, str]:
        return {"by": self.by, "reason": self.reason, "at": self.at.isoformat()}


def closes_early(closes_at: dt.datetime, now: dt.datetime) -> bool:
    return now < closes_at


@dataclass(frozen=True)
class Wave:
    number: int
    state: WaveState
    times: WaveTimes
    quota: int
    kk_cap: int
    province_quotas: Mapping[str, int]
    commitment: str
    sealed_seed: bytes | None = None
    sealed_secret: bytes | None = None  # the wave secret (draw ids, family pseudonyms), sealed; never published
    closed_at: dt.datetime | None = None
    published_at: dt.datetime | None = None
    drawn: DrawOutcome | None = None
    chunk_count: int | None = None
    chunks_queued_at: dt.datetime | None = None
    chunks_done: frozenset[int] = field(default_factory=frozenset)
    early_close: EarlyClose | None = None
    revocations_queued_at: dt.datetime | None = None  # when its members' first-purchase deadline was swept
    parts_queued_at: dt.datetime | None = None  # the pool's parts handed to the workers
    parts_done: frozenset[str] = field(default_factory=frozenset)  # the part files written (`pool_parts.Part.name`)

    @property
    def is_open(self) -> bool:
        return self.state is WaveState.OPEN

    @property
    def pool_reading(self) -> PoolReading:
        if all_read(self.parts_done):
            return PoolReading.DONE
        return PoolReading.NOT_QUEUED if self.parts_queued_at is None else PoolReading.UNDER_WAY
