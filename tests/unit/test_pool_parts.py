"""The pool's part files: what is written is what is read back, and the shards assemble into the pool in order."""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.draw import Member, Pool
from functions.domain.pool_parts import (
    ALL_PARTS,
    FAMILY_SEGMENTS,
    SHARDS,
    DamagedPart,
    Part,
    PartKind,
    all_read,
    assemble,
    decode_families,
    decode_pool,
    encode_families,
    encode_pool,
)


def members(count: int, seed: int) -> list[Member]:
    rng = random.Random(seed)
    return sorted(
        (
            Member(
                draw_id=f"{rng.getrandbits(256):064x}",
                tier=rng.randint(1, 4),
                province=rng.choice(("31", "32", "35", "73")),
                family=hashlib.sha256(str(rng.randrange(count // 2 + 1)).encode()).hexdigest(),
            )
            for _ in range(count)
        ),
        key=lambda member: member.draw_id,
    )


@given(count=st.integers(0, 60), seed=st.integers(0, 2**32), wave=st.integers(1, 999), shard=st.integers(0, 31))
def test_a_pool_part_reads_back_as_written(count: int, seed: int, wave: int, shard: int) -> None:
    pool = Pool.of(members(count, seed))
    data = encode_pool(wave, shard, pool)
    assert decode_pool(data, wave, shard) == pool
    assert encode_pool(wave, shard, decode_pool(data, wave, shard)) == data  # the same part, the same bytes


@given(
    acceptances=st.dictionaries(st.binary(min_size=16, max_size=16), st.integers(1, 2**32 - 1), max_size=40),
    segment=st.integers(0, FAMILY_SEGMENTS - 1),
)
def test_a_families_part_reads_back_as_written_and_its_bytes_do_not_depend_on_order(
    acceptances: dict[bytes, int], segment: int
) -> None:
    data = encode_families(7, segment, acceptances)
    assert decode_families(data, 7, segment) == acceptances
    assert encode_families(7, segment, dict(reversed(list(acceptances.items())))) == data


def test_shards_assemble_into_the_pool_in_the_order_given() -> None:
    # Given a pool cut into 32 consecutive shards (as the store's shards cut the applicant ids), some empty
    whole = members(500, seed=3)
    cuts = sorted(random.Random(4).choices(range(len(whole) + 1), k=SHARDS - 1))
    bounds = [0, *cuts, len(whole)]
    shards = [Pool.of(whole[start:end]) for start, end in itertools.pairwise(bounds)]
    # When they are written, read back and assembled in shard order
    parts = [encode_pool(1, index, shard) for index, shard in enumerate(shards)]
    assembled = assemble(decode_pool(data, 1, index) for index, data in enumerate(parts))
    # Then the pool is byte for byte the whole one; in another order it is not
    assert assembled == Pool.of(whole)
    assert assemble(reversed(shards)) != assembled
    assert len(assemble([])) == 0


def test_a_part_that_is_not_the_one_expected_is_refused() -> None:
    data = encode_pool(2, 5, Pool.of(members(3, seed=5)))
    for wave, shard in [(3, 5), (2, 6)]:
        with pytest.raises(DamagedPart):
            decode_pool(data, wave, shard)
    with pytest.raises(DamagedPart):
        decode_pool(data[:-1], 2, 5)
    with pytest.raises(DamagedPart):
        decode_families(data, 2, 5)  # a pool part is not a families part


def test_the_parts_are_every_shard_and_every_segment_by_name() -> None:
    assert len(ALL_PARTS) == SHARDS + FAMILY_SEGMENTS
    assert Part.named("pool-07") == Part(PartKind.POOL, 7)
    assert Part.named("families-00").kind is PartKind.FAMILIES
    for name in ("pool-7", "pool-32", f"families-{FAMILY_SEGMENTS:02d}", "ranked-01", "pool-", "pool"):
        with pytest.raises(ValueError, match="no pool part"):
            Part.named(name)
    names = [part.name for part in ALL_PARTS]
    assert not all_read(names[1:])
    assert all_read(names + names)  # a part noted twice counts once
