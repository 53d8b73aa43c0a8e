"""The pool read in parts: one per pool shard and one per segment of the family-card memory, each read by a worker
of its own and kept as a compact columnar file, so that the draw reads a few files instead of every member.

A part file is a header (what it is, the wave, the part's index, how many rows) and the byte columns as the draw
keeps them (`functions.domain.draw.Pool`): draw ids, never account ids. The same part read twice gives the same
bytes, so a retried or duplicated worker changes nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from functions.domain.draw import FAMILY_WIDTH, ID_WIDTH, PROVINCE_WIDTH, Pool

SHARDS = 32  # pool shards: `w<wave>#<shard>`, from the applicant id's leading hex digits
FAMILY_SEGMENTS = 8  # segments of the parallel scan of the family-card memory

_HEADER = struct.Struct("<8sIHI")  # magic, wave, part index, rows
_POOL_MAGIC = b"PKJPOOL1"
_FAMILIES_MAGIC = b"PKJFAML1"
_COUNT_WIDTH = 4  # a family's acceptances, little-endian unsigned
_POOL_ROW = ID_WIDTH + 1 + PROVINCE_WIDTH + FAMILY_WIDTH


class PartKind(StrEnum):
    POOL = "pool"
    FAMILIES = "families"


@dataclass(frozen=True, order=True)
class Part:
    kind: PartKind
    index: int

    @property
    def name(self) -> str:
        return f"{self.kind.value}-{self.index:02d}"

    @classmethod
    def named(cls, name: str) -> Part:
        """The part a name gives (`pool-07`, `families-03`); ValueError for any other name."""
        kind, _, index = name.partition("-")
        part = cls(PartKind(kind), int(index)) if kind in set(PartKind) and index.isdigit() else None
        if part is None or part.name != name or part not in ALL_PARTS:
            raise ValueError(f"no pool part is named {name!r}")
        return part


ALL_PARTS: frozenset[Part] = frozenset(
    [Part(PartKind.POOL, shard) for shard in range(SHARDS)]
    + [Part(PartKind.FAMILIES, segment) for segment in range(FAMILY_SEGMENTS)]
)
PART_NAMES: frozenset[str] = frozenset(part.name for part in ALL_PARTS)


def all_read(done: Iterable[str]) -> bool:
    return set(done) >= PART_NAMES


class DamagedPart(ValueError):
    """A part file that is not the part it should be (another wave's, another shard's, cut short)."""


def _header(magic: bytes, wave: int, index: int, rows: int) -> bytes:
    return _HEADER.pack(magic, wave, index, rows)


def _rows(data: bytes, magic: bytes, wave: int, index: int, row_width: int) -> int:
    if len(data) < _HEADER.size:
        raise DamagedPart("shorter than its header")
    found, found_wave, found_index, rows = _HEADER.unpack_from(data)
    if (found, found_wave, found_index) != (magic, wave, index):
        raise DamagedPart(f"expected {magic!r} of wave {wave} part {index}, found {found!r} {found_wave} {found_index}")
    if len(data) != _HEADER.size + rows * row_width:
        raise DamagedPart(f"{len(data)} bytes for {rows} rows")
    return int(rows)


def encode_pool(wave: int, shard: int, pool: Pool) -> bytes:
    return b"".join((_header(_POOL_MAGIC, wave, shard, len(pool)), pool.ids, pool.tiers, pool.provinces, pool.families))


def decode_pool(data: bytes, wave: int, shard: int) -> Pool:
    rows = _rows(data, _POOL_MAGIC, wave, shard, _POOL_ROW)
    columns = []
    start = _HEADER.size
    for width in (ID_WIDTH, 1, PROVINCE_WIDTH, FAMILY_WIDTH):
        columns.append(data[start : start + rows * width])
        start += rows * width
    return Pool(*columns)


def encode_families(wave: int, segment: int, acceptances: Mapping[bytes, int]) -> bytes:
    """Family keys (`draw.family_key`) in ascending order, then their counts, so equal memories give equal bytes."""
    keys = sorted(acceptances)
    if any(len(key) != FAMILY_WIDTH for key in keys):
        raise ValueError(f"family keys are {FAMILY_WIDTH} bytes")
    counts = struct.pack(f"<{len(keys)}I", *(acceptances[key] for key in keys))
    return b"".join((_header(_FAMILIES_MAGIC, wave, segment, len(keys)), *keys, counts))


def decode_families(data: bytes, wave: int, segment: int) -> dict[bytes, int]:
    rows = _rows(data, _FAMILIES_MAGIC, wave, segment, FAMILY_WIDTH + _COUNT_WIDTH)
    keys_end = _HEADER.size + rows * FAMILY_WIDTH
    counts = struct.unpack_from(f"<{rows}I", data, keys_end)
    starts = range(_HEADER.size, keys_end, FAMILY_WIDTH)
    return {data[start : start + FAMILY_WIDTH]: count for start, count in zip(starts, counts, strict=True)}


def assemble(shards: Iterable[Pool]) -> Pool:
    """One pool from its shards, in the order given (shard order: the pool sorted by applicant id, as the store
    reads it). Column by column, so that at ten million members the pieces and one whole column are in memory at
    once, not the pieces and the whole pool (bench/bench_close.py)."""
    pieces: list[list[bytes]] = [[], [], [], []]
    for shard in shards:
        for column, piece in zip(pieces, (shard.ids, shard.tiers, shard.provinces, shard.families), strict=True):
            column.append(piece)
    joined = []
    for column in pieces:
        joined.append(b"".join(column))
        column.clear()
    return Pool(*joined)
