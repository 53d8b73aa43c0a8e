"""The scaled-out close on moto: a pool drawn from the workers' parts is byte for byte the pool drawn in one
process (`store.waves.read_pool` and `family_acceptances`, the reference), and parts read twice change nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions import clock
from functions.adapters import draw_seeds, results, wave_secrets
from functions.domain.draw import DrawRules, manifest, ranked_list_lines, run_draw
from functions.domain.pool_parts import ALL_PARTS
from functions.domain.wave import Wave
from functions.select import pool_part_consumer
from functions.services import selection
from functions.settings import settings
from functions.store import waves as wave_store
from functions.store.models import FamilyRecord, WaveMemberRecord, WaveRecord, bind, pool_key
from tests.helpers import FakeLambdaContext, reset_app_state, sqs_event
from tests.integration.conftest import queue_messages, run_consumers

QUOTA = 25


@pytest.fixture
def closed_wave(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wave]:
    """Wave 1 closed over 300 members in every shard, some of whose families were accepted before."""
    monkeypatch.setenv("PRAKERJA_WAVE_QUOTA", str(QUOTA))
    monkeypatch.setenv("PRAKERJA_PROVINCE_QUOTAS", "35:4")
    reset_app_state()
    opened = selection.open_wave(clock.now())
    rng = random.Random(12)
    families = [hashlib.sha256(f"kk{n}".encode()).hexdigest() for n in range(200)]
    bind()
    with WaveMemberRecord.batch_write() as batch:
        for _ in range(300):
            applicant_id = f"{rng.getrandbits(128):032x}"
            batch.save(
                WaveMemberRecord(
                    pool=pool_key(1, wave_store.member_shard(applicant_id)),
                    applicant_id=applicant_id,
                    tier=rng.randint(1, 4),
                    province=rng.choice(("31", "32", "35")),
                    family=rng.choice(families),
                    joined_at=clock.now(),
                    carried_over=False,
                )
            )
    with FamilyRecord.batch_write() as batch:
        for family in families[:60]:
            batch.save(FamilyRecord(family=family, accepted={f"{rng.getrandbits(128):032x}"}))
    selection.close(1, opened.times.closes_at + dt.timedelta(minutes=1))
    wave = wave_store.find(1)
    assert wave is not None
    yield wave


def s3_bytes(key: str) -> bytes:
    return bytes(boto3.client("s3").get_object(Bucket=settings().results_bucket, Key=key)["Body"].read())


def part_files(wave: int) -> dict[str, bytes]:
    return {part.name: s3_bytes(results.pool_part_key(wave, part.name)) for part in ALL_PARTS}


def test_the_pool_drawn_from_its_parts_is_byte_for_byte_the_pool_drawn_in_one_process(closed_wave: Wave) -> None:
    # Given the reference: the pool and the family-card memory read in one process, and drawn
    secret = wave_secrets.secret_of(closed_wave)
    assert closed_wave.sealed_seed is not None
    seed = draw_seeds.reveal(1, closed_wave.sealed_seed)
    reference = run_draw(
        wave_store.read_pool(1, secret),
        seed,
        DrawRules(quota=closed_wave.quota, kk_cap=closed_wave.kk_cap, province_quotas=closed_wave.province_quotas),
        wave_store.family_acceptances(),
        wave_secret=secret,
    )
    ranked = "".join(ranked_list_lines(reference)).encode()
    # When the close's workers read it in parts and the last of them has it drawn
    selection.read(1)
    run_consumers("pool_part_consumer")
    # Then the published files are byte for byte the reference's
    assert wave_store.find(1).state == "SELECTED"  # type: ignore[union-attr]
    assert s3_bytes(results.ranked_list_key(1)) == ranked
    published = json.loads(s3_bytes(results.manifest_key(1)))
    expected = manifest(
        reference,
        wave=1,
        seed=seed,
        beacon=None,
        ranked_list={"name": "ranked-list.csv", "sha256": hashlib.sha256(ranked).hexdigest()},
    )
    assert published == expected
    # ... and the draw was a real one: every shard had members, families capped, the quota filled
    assert len(reference.pool) == 300 and reference.selected_count == QUOTA
    assert sum(row.family_prior_accepted for row in reference.ranked_rows()) > 0
    assert all(wave_store.read_shard(1, shard, secret).tiers for shard in range(wave_store.SHARDS))


def test_parts_delivered_twice_or_retried_change_nothing(closed_wave: Wave) -> None:
    selection.read(1)
    messages = queue_messages(settings().pool_parts_queue_url)
    assert sorted(json.loads(m["Body"])["part"] for m in messages) == sorted(p.name for p in ALL_PARTS)
    first = messages[0]["Body"]
    part = json.loads(first)["part"]
    key = results.pool_part_key(1, part)
    # Given one part read
    assert pool_part_consumer(sqs_event(first), FakeLambdaContext()) == {"batchItemFailures": []}
    written = s3_bytes(key)
    # When it is delivered again, and retried after a worker that wrote the file but stopped before noting it
    assert pool_part_consumer(sqs_event(first), FakeLambdaContext()) == {"batchItemFailures": []}
    WaveRecord(number=1).update(actions=[WaveRecord.parts_done.delete({part})])
    assert pool_part_consumer(sqs_event(first), FakeLambdaContext()) == {"batchItemFailures": []}
    # Then the file is the same bytes, noted done once, and the draw waits for the other parts
    assert s3_bytes(key) == written
    wave = wave_store.find(1)
    assert wave is not None and wave.parts_done == {part} and wave.state == "CLOSED"
    # When every part arrives, some twice, the wave is drawn once
    sqs = boto3.client("sqs")
    for body in [m["Body"] for m in messages] + [m["Body"] for m in messages[:5]]:
        sqs.send_message(QueueUrl=settings().pool_parts_queue_url, MessageBody=body)
    run_consumers("pool_part_consumer")
    drawn = wave_store.find(1)
    assert drawn is not None and drawn.state == "SELECTED" and drawn.parts_done == {p.name for p in ALL_PARTS}
    files, manifest_bytes = part_files(1), s3_bytes(results.manifest_key(1))
    # And a part arriving after the draw is not read again: nothing changes, nor does another tick
    sqs.send_message(QueueUrl=settings().pool_parts_queue_url, MessageBody=first)
    run_consumers("pool_part_consumer")
    assert selection.advance(clock.now()) == []
    assert (part_files(1), s3_bytes(results.manifest_key(1))) == (files, manifest_bytes)
    assert wave_store.find(1) == drawn
