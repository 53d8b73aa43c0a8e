"""Waves, their pools and the family-card memory.

A wave's pool is read by query, shard by shard, never by scanning applicants: membership items live under
`w<wave>#<shard>` with the applicant id as sort key, 32 shards taken from the id's leading hex digits. Joins at
1,000/s spread over 32 partitions, and reading the shards in order yields the pool sorted by applicant id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from functions.domain import pool_parts
from functions.domain.calendar import WaveTimes
from functions.domain.draw import Pool, draw_ids, family_key
from functions.domain.lifecycle import Applicant, Event, FunnelStage, Status
from functions.domain.membership import MembershipTerms
from functions.domain.wave import DrawOutcome, EarlyClose, Wave, WaveState
from functions.store import applicants, funnel
from functions.store import members as memberships
from functions.store.models import (
    ApplicantRecord,
    FamilyRecord,
    IdentityGuardRecord,
    WaveMemberRecord,
    WaveRecord,
    bind,
    card_guard_key,
    pool_key,
)
from functions.store.transactions import Build, committed, transact, update_if

POINTER = 0
SHARDS = pool_parts.SHARDS


def member_shard(applicant_id: str) -> int:
    return int(applicant_id[:2], 16) * SHARDS // 256


def _entity(record: WaveRecord) -> Wave:
    drawn = (
        DrawOutcome(
            seed=record.seed,
            pool_size=int(record.pool_size or 0),
            pool_digest=record.pool_digest or "",
            selected_count=int(record.selected_count or 0),
            manifest_key=record.manifest_key or "",
            ranked_list_key=record.ranked_list_key or "",
        )
        if record.seed
        else None
    )
    return Wave(
        number=int(record.number),
        state=WaveState(record.state),
        times=WaveTimes(record.opens_at, record.closes_at, record.publish_at),
        quota=int(record.quota or 0),
        kk_cap=int(record.kk_cap or 0),
        province_quotas=json.loads(record.province_quotas or "{}"),
        commitment=record.commitment or "",
        sealed_seed=record.sealed_seed,
        sealed_secret=record.sealed_secret,
        closed_at=record.closed_at,
        published_at=record.published_at,
        drawn=drawn,
        chunk_count=None if record.chunk_count is None else int(record.chunk_count),
        chunks_queued_at=record.chunks_queued_at,
        chunks_done=frozenset(int(chunk) for chunk in record.chunks_done or ()),
        early_close=(
            EarlyClose(record.closed_early_by, record.closed_early_reason or "", record.closed_at)
            if record.closed_early_by and record.closed_at
            else None
        ),
        revocations_queued_at=record.revocations_queued_at,
        parts_queued_at=record.parts_queued_at,
        parts_done=frozenset(record.parts_done or ()),
    )


def _record(wave: Wave) -> WaveRecord:
    """A new wave's record (only OPEN waves are created)."""
    return WaveRecord(
        number=wave.number,
        state=wave.state.value,
        opens_at=wave.times.opens_at,
        closes_at=wave.times.closes_at,
        publish_at=wave.times.publish_at,
        quota=wave.quota,
        kk_cap=wave.kk_cap,
        province_quotas=json.dumps(dict(wave.province_quotas), sort_keys=True),
        commitment=wave.commitment,
        sealed_seed=wave.sealed_seed,
        sealed_secret=wave.sealed_secret,
    )


def _find_record(number: int) -> WaveRecord | None:
    bind()
    try:
        return WaveRecord.get(number, consistent_read=True)
    except DoesNotExist:
        return None


def find(number: int) -> Wave | None:
    record = _find_record(number)
    return None if record is None else _entity(record)


def current_number() -> int | None:
    pointer = _find_record(POINTER)
    return None if pointer is None or pointer.current is None else int(pointer.current)


def oldest_unpublished(current: Wave) -> Wave:
    """The oldest wave not yet published, given the open one: a wave closes only once the one before it is
    published, so that is the one before the open wave, or the open wave itself."""
    previous = find(current.number - 1) if current.number > 1 else None
    return previous if previous is not None and previous.state is not WaveState.PUBLISHED else current


def open_first(wave: Wave) -> bool:
    """Creates wave 1 and the pointer to it, unless another process did first."""
    bind()

    def create(transaction: TransactWrite) -> None:
        transaction.save(_record(wave), condition=WaveRecord.number.does_not_exist())
        transaction.save(WaveRecord(number=POINTER, current=wave.number), condition=WaveRecord.number.does_not_exist())

    return committed(transact(create), "first wave")


def close_and_open_next(number: int, closed_at: dt.datetime, following: Wave, early: EarlyClose | None = None) -> bool:
    """Closes wave `number` and opens the next in one transaction: no join can land in a closed pool. An admin's
    close before `closes_at` is recorded with the close (`early`: who and why; when is `closed_at`)."""
    bind()
    actions: list[Any] = [WaveRecord.state.set(WaveState.CLOSED.value), WaveRecord.closed_at.set(closed_at)]
    if early is not None:
        actions += [WaveRecord.closed_early_by.set(early.by), WaveRecord.closed_early_reason.set(early.reason)]

    def close_and_open(transaction: TransactWrite) -> None:
        transaction.update(
            WaveRecord(number=number),
            actions=actions,
            condition=WaveRecord.state == WaveState.OPEN.value,
        )
        transaction.save(_record(following), condition=WaveRecord.number.does_not_exist())
        transaction.update(
            WaveRecord(number=POINTER),
            actions=[WaveRecord.current.set(following.number)],
            condition=WaveRecord.current == number,
        )

    return committed(transact(close_and_open), "close")


def _update_wave(number: int, actions: list[Any], condition: Any) -> bool:
    return update_if(WaveRecord(number=number), actions, condition)


def record_selection(number: int, drawn: DrawOutcome) -> bool:
    """CLOSED -> SELECTED, with what the draw settled."""
    return _update_wave(
        number,
        [
            WaveRecord.seed.set(drawn.seed),
            WaveRecord.pool_size.set(drawn.pool_size),
            WaveRecord.pool_digest.set(drawn.pool_digest),
            WaveRecord.selected_count.set(drawn.selected_count),
            WaveRecord.manifest_key.set(drawn.manifest_key),
            WaveRecord.ranked_list_key.set(drawn.ranked_list_key),
            WaveRecord.state.set(WaveState.SELECTED.value),
        ],
        WaveRecord.state == WaveState.CLOSED.value,
    )


def pool_parts_queued(number: int, now: dt.datetime) -> bool:
    """Notes that the closed wave's pool parts were handed to the workers (once)."""
    return _update_wave(
        number,
        [WaveRecord.parts_queued_at.set(now)],
        (WaveRecord.state == WaveState.CLOSED.value) & WaveRecord.parts_queued_at.does_not_exist(),
    )


def pool_part_done(number: int, part: str) -> bool:
    """Adds a written part to the closed wave's set of parts done: a part done twice is there once."""
    return _update_wave(number, [WaveRecord.parts_done.add({part})], WaveRecord.state == WaveState.CLOSED.value)


def plan_publication(number: int, chunk_count: int) -> bool:
    return _update_wave(
        number,
        [WaveRecord.chunk_count.set(chunk_count)],
        (WaveRecord.state == WaveState.SELECTED.value) & WaveRecord.chunk_count.does_not_exist(),
    )


def chunks_queued(number: int, now: dt.datetime) -> None:
    _update_wave(number, [WaveRecord.chunks_queued_at.set(now)], WaveRecord.chunks_queued_at.does_not_exist())


def revocations_queued(number: int, now: dt.datetime) -> bool:
    """Notes that the revocation sweep of a published wave's members is queued (once: False if it was)."""
    return _update_wave(
        number,
        [WaveRecord.revocations_queued_at.set(now)],
        (WaveRecord.state == WaveState.PUBLISHED.value) & WaveRecord.revocations_queued_at.does_not_exist(),
    )


def chunk_done(number: int, chunk: int) -> None:
    _update_wave(number, [WaveRecord.chunks_done.add({chunk})], WaveRecord.number.exists())


def mark_published_if_complete(number: int, chunk_count: int, now: dt.datetime) -> bool:
    """PUBLISHED only when every chunk has reported done."""
    complete = (
        size(WaveRecord.chunks_done) == chunk_count  # type: ignore[no-untyped-call]
        if chunk_count
        else WaveRecord.chunk_count == 0
    )
    return _update_wave(
        number,
        [WaveRecord.state.set(WaveState.PUBLISHED.value), WaveRecord.published_at.set(now)],
        (WaveRecord.state == WaveState.SELECTED.value) & complete,
    )


# --- pools --------------------------------------------------------------------------------------------------


def _member(applicant: Applicant, wave: int, now: dt.datetime, carried_over: bool) -> WaveMemberRecord:
    if applicant.tier is None:
        raise ValueError("an applicant without a priority tier cannot be in a pool")
    return WaveMemberRecord(
        pool=pool_key(wave, member_shard(applicant.applicant_id)),
        applicant_id=applicant.applicant_id,
        tier=applicant.tier,
        province=applicant.province_code,
        family=applicant.family,
        joined_at=now,
        carried_over=carried_over,
    )


def _into_pool(applicant: Applicant, wave: int, now: dt.datetime, *, carried_over: bool) -> Build:
    """The transaction's part that puts an applicant into a wave's pool. A join checks that the wave is still open
    in the same transaction. A carry-over does not: it runs while the previous wave publishes, and a wave closes
    only once the one before it is published (`selection.close` refuses it out of order), so its wave is open by
    construction; checking anyway would make that one wave record a hot key of every carried-over member (up to
    10,000,000 condition checks on one partition, at most 1,000 a second)."""

    def membership(transaction: TransactWrite) -> None:
        if not carried_over:
            transaction.condition_check(WaveRecord, wave, condition=WaveRecord.state == WaveState.OPEN.value)
        transaction.save(
            _member(applicant, wave, now, carried_over=carried_over),
            condition=WaveMemberRecord.applicant_id.does_not_exist(),
        )

    return membership


def join(applicant: Applicant, wave: int, now: dt.datetime) -> bool:
    """ELIGIBLE -> JOINED into an open wave, with its pool membership, in one transaction."""
    return applicants.change(
        Event.JOIN,
        applicant.applicant_id,
        [ApplicantRecord.wave.set(wave), ApplicantRecord.joined_at.set(now)],
        now=now,
        also=[_into_pool(applicant, wave, now, carried_over=False)],
    )


def accept(
    applicant_id: str, wave: int, card_number: str, *, family: str, terms: MembershipTerms, now: dt.datetime
) -> bool:
    """JOINED (in this wave) -> ACCEPTED with its card; the family card remembers the acceptance, the card number
    is claimed (a guard item, written only if no other card holds that number), and the membership is activated
    with its training balance granted (`terms`), all in the same transaction.

    False when nothing was written: the applicant had moved on, or `card_number` is taken (the caller, seeing the
    applicant still JOINED, tries again with a new number)."""

    def claim_card_and_remember_family(transaction: TransactWrite) -> None:
        transaction.save(
            IdentityGuardRecord(guard=card_guard_key(card_number), applicant_id=applicant_id),
            condition=IdentityGuardRecord.guard.does_not_exist(),
        )
        transaction.update(FamilyRecord(family=family), actions=[FamilyRecord.accepted.add({applicant_id})])

    return applicants.change(
        Event.ACCEPT,
        applicant_id,
        [ApplicantRecord.card_number.set(card_number), ApplicantRecord.accepted_at.set(now)],
        now=now,
        condition=ApplicantRecord.wave == wave,
        also=[
            claim_card_and_remember_family,
            memberships.activation(
                applicant_id,
                card_number,
                wave,
                balance=terms.balance,
                deadline_days=terms.first_purchase_days,
                now=now,
            ),
            funnel.count((FunnelStage.ACTIVATED,), applicant_id),
        ],
    )


def carry_over(applicant: Applicant, from_wave: int, now: dt.datetime) -> bool:
    """Not selected in `from_wave`: JOINED into the next, open wave, without the applicant doing anything."""
    following = from_wave + 1
    return applicants.change(
        Event.CARRY_OVER,
        applicant.applicant_id,
        [
            ApplicantRecord.wave.set(following),
            ApplicantRecord.previous_wave.set(from_wave),
            ApplicantRecord.previous_result.set(Status.NOT_SELECTED.value),
        ],
        now=now,
        condition=ApplicantRecord.wave == from_wave,
        also=[_into_pool(applicant, following, now, carried_over=True)],
    )


def release_claim(holder: Applicant, admin: str, reason: str, now: dt.datetime) -> bool:
    """`applicants.release_claim`; a JOINED holder also leaves its wave's pool, only while that wave is open (False
    once it has closed: the holder is in a draw)."""
    also: list[Build] = []
    if holder.status is Status.JOINED and holder.wave is not None:
        wave, member = (
            holder.wave,
            WaveMemberRecord(
                pool=pool_key(holder.wave, member_shard(holder.applicant_id)), applicant_id=holder.applicant_id
            ),
        )

        def leaving(transaction: TransactWrite) -> None:
            transaction.condition_check(WaveRecord, wave, condition=WaveRecord.state == WaveState.OPEN.value)
            transaction.delete(member)

        also.append(leaving)
    return applicants.release_claim(holder, admin, reason, now, also=also)


def members(wave: int) -> Iterator[WaveMemberRecord]:
    """The pool of a wave, in applicant-id order, one query per shard."""
    bind()
    for shard in range(SHARDS):
        yield from WaveMemberRecord.query(pool_key(wave, shard), consistent_read=True)


def is_member(wave: int, applicant_id: str) -> bool:
    bind()
    try:
        WaveMemberRecord.get(pool_key(wave, member_shard(applicant_id)), applicant_id)
    except DoesNotExist:
        return False
    return True


def waves_joined(applicant_id: str, latest: int) -> list[int]:
    """The waves whose pool holds the applicant, oldest first: `latest` and the unbroken run before it (an
    applicant joins one wave and is carried from each into the next until accepted)."""
    joined: list[int] = []
    number = latest
    while number >= 1 and is_member(number, applicant_id):
        joined.append(number)
        number -= 1
    return joined[::-1]


def member_ids(wave: int) -> Iterator[str]:
    """The applicant ids of a wave's pool (kept in the store beside the draw; never in a published file)."""
    for member in members(wave):
        yield member.applicant_id


def read_shard(wave: int, shard: int, wave_secret: bytes) -> Pool:
    """One shard of the pool as the draw sees it: each member by its draw id under the wave's secret, never its
    account id, in applicant-id order. Straight into the Pool's byte columns: lists of a str per member would
    take two and a half times the memory (bench/bench_pool_read.py)."""
    bind()
    applicant_ids, tiers, provinces, families = bytearray(), bytearray(), bytearray(), bytearray()
    for member in WaveMemberRecord.query(pool_key(wave, shard), consistent_read=True):
        applicant_ids += member.applicant_id.encode("ascii")
        tiers.append(int(member.tier))
        provinces += member.province.encode("ascii")
        families += family_key(member.family)
    return Pool(draw_ids(wave_secret, bytes(applicant_ids)), bytes(tiers), bytes(provinces), bytes(families))


def read_pool(wave: int, wave_secret: bytes) -> Pool:
    """The whole pool in one process, shard by shard: what the parts the close's workers write add up to. The
    close no longer reads this way (at ten million members it would take a quarter of an hour); the comparison
    test and bench/bench_pool_read.py keep it as the reference."""
    return pool_parts.assemble(read_shard(wave, shard, wave_secret) for shard in range(SHARDS))


def family_acceptances(segment: int = 0, segments: int = 1) -> dict[bytes, int]:
    """How many of each family card were accepted so far, by family key (only families with acceptances are
    stored, so this reads the acceptances ever made, not the applicants): the whole memory, or one segment of a
    parallel scan of it."""
    bind()
    return {
        family_key(record.family): len(record.accepted or ())
        for record in FamilyRecord.scan(segment=segment, total_segments=segments)
    }
