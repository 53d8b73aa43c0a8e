"""A closed wave's pool, read by parallel workers: one per pool shard, one per segment of the family-card memory.

At ten million members reading the pool in one function would take a quarter of an hour (90 us of CPU a member,
mostly DynamoDB's pages and the draw ids' HMACs); read in 32 shards at once it takes one shard's time. Each worker
writes its part as a columnar file to the results bucket, outside what is published (`results.pool_part_key`), and
adds it to the wave's parts done; the draw then reads the parts (`read_pool`), which add up byte for byte to the
pool `store.waves.read_pool` reads in one process. The workers open the wave secret (draw ids), never the seed.

A queue with a capped consumer rather than Step Functions' distributed map: publication already fans out that way,
the local stack runs SQS consumers as Lambda does (moto does not run a distributed map's workers), and a part is
one message whose retries and dead letters behave as every other queue's.
"""

from __future__ import annotations

from functions import clock
from functions.adapters import queues, results, wave_secrets
from functions.domain.draw import Pool
from functions.domain.messages import PoolPartRequest
from functions.domain.pool_parts import (
    ALL_PARTS,
    FAMILY_SEGMENTS,
    SHARDS,
    Part,
    PartKind,
    assemble,
    decode_families,
    decode_pool,
    encode_families,
    encode_pool,
)
from functions.domain.wave import PoolReading, Wave, WaveState
from functions.observability import logger, metrics
from functions.settings import settings
from functions.store import waves as store


def queue_parts(wave: Wave) -> None:
    """CLOSED: hands the parts not yet done to the workers, once. A call that finds them planned but not noted as
    queued (the last one stopped in between) queues them again, which is harmless: a part done is skipped, and
    a part read twice is the same file."""
    if wave.state is not WaveState.CLOSED or wave.parts_queued_at is not None:
        return
    requests = [PoolPartRequest(wave=wave.number, part=part.name) for part in sorted(ALL_PARTS)]
    queues.send_all(
        settings().pool_parts_queue_url, [r.model_dump_json() for r in requests if r.part not in wave.parts_done]
    )
    store.pool_parts_queued(wave.number, clock.now())
    logger.info("wave pool queued in parts", extra={"wave": wave.number, "parts": len(requests)})


def read_part(request: PoolPartRequest) -> bool:
    """In a worker: one part read into its file and noted done. True when the pool is then read whole (the
    draw is due); a part already done, or of a wave past CLOSED, is not read again."""
    wave = store.find(request.wave)
    if wave is None or wave.state is not WaveState.CLOSED or request.part in wave.parts_done:
        return False
    number, part = wave.number, Part.named(request.part)
    if part.kind is PartKind.POOL:
        data = encode_pool(number, part.index, store.read_shard(number, part.index, wave_secrets.secret_of(wave)))
    else:
        data = encode_families(number, part.index, store.family_acceptances(part.index, FAMILY_SEGMENTS))
    results.put_bytes(results.pool_part_key(number, part.name), data)
    store.pool_part_done(number, part.name)
    metrics.add_metric(name="PoolPartRead", unit="Count", value=1)
    after = store.find(number)
    return after is not None and after.state is WaveState.CLOSED and after.pool_reading is PoolReading.DONE


def _part(wave: int, kind: PartKind, index: int) -> bytes:
    return results.get_bytes(results.pool_part_key(wave, Part(kind, index).name))


def read_pool(wave: int) -> tuple[Pool, dict[bytes, int]]:
    """In the draw: the pool, its shards in order, and the family-card memory (`family_key` -> acceptances), from
    the parts the workers wrote."""
    pool = assemble(decode_pool(_part(wave, PartKind.POOL, shard), wave, shard) for shard in range(SHARDS))
    acceptances: dict[bytes, int] = {}
    for segment in range(FAMILY_SEGMENTS):
        acceptances.update(decode_families(_part(wave, PartKind.FAMILIES, segment), wave, segment))
    return pool, acceptances
