"""Waves, their pools and the family-card memory.

A wave's pool is read by query, shard by shard, never by scanning applicants: membership items live under
`w<wave>#<shard>` with the applicant id as sort key, 32 shards taken from the id's leading hex digits. Joins at
1,000/s spread over 32 partitions, and reading the shards in order yields the pool sorted by applicant id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import size
from pynamodb.transactions import TransactWrite

from functions.domain.draw import Pool, family_key
from functions.domain.eligibility import LAST_TIER
from functions.domain.lifecycle import FunnelStage, Status
from functions.domain.waves import WaveState
from functions.store import applicants
from functions.store.models import ApplicantRecord, FamilyRecord, WaveMemberRecord, WaveRecord, bind

POINTER = 0
SHARDS = 32


def member_shard(applicant_id: str) -> int:
    return int(applicant_id[:2], 16) * SHARDS // 256


def pool_key(wave: int, shard: int) -> str:
    return f"w{wave}#{shard:02d}"


def find(number: int) -> WaveRecord | None:
    bind()
    try:
        return WaveRecord.get(number, consistent_read=True)
    except DoesNotExist:
        return None


def current_number() -> int | None:
    pointer = find(POINTER)
    return None if pointer is None or pointer.current is None else int(pointer.current)


def oldest_unpublished(current: WaveRecord) -> WaveRecord:
    """The oldest wave not yet published, given the open one: a wave closes only once the one before it is
    published, so that is the one before the open wave, or the open wave itself."""
    number = int(current.number)
    previous = find(number - 1) if number > 1 else None
    return previous if previous is not None and previous.state != WaveState.PUBLISHED.value else current


def open_first(wave: WaveRecord) -> bool:
    """Creates wave 1 and the pointer to it, unless another process did first."""
    bind()

    def build(transaction: TransactWrite) -> None:
        transaction.save(wave, condition=WaveRecord.number.does_not_exist())
        transaction.save(WaveRecord(number=POINTER, current=wave.number), condition=WaveRecord.number.does_not_exist())

    return not applicants.transact(build)


def close_and_open_next(number: int, closed_at: dt.datetime, following: WaveRecord) -> bool:
    """Closes wave `number` and opens the next in one transaction: no join can land in a closed pool."""
    bind()

    def build(transaction: TransactWrite) -> None:
        transaction.update(
            WaveRecord(number=number),
            actions=[WaveRecord.state.set(WaveState.CLOSED.value), WaveRecord.closed_at.set(closed_at)],
            condition=WaveRecord.state == WaveState.OPEN.value,
        )
        transaction.save(following, condition=WaveRecord.number.does_not_exist())
        transaction.update(
            WaveRecord(number=POINTER),
            actions=[WaveRecord.current.set(following.number)],
            condition=WaveRecord.current == number,
        )

    return not applicants.transact(build)


def _update_wave(number: int, actions: list[Any], condition: Any) -> bool:
    bind()
    try:
        WaveRecord(number=number).update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def record_selection(number: int, actions: list[Any]) -> bool:
    return _update_wave(
        number, [*actions, WaveRecord.state.set(WaveState.SELECTED.value)], WaveRecord.state == WaveState.CLOSED.value
    )


def plan_publication(number: int, chunk_count: int) -> bool:
    return _update_wave(
        number,
        [WaveRecord.chunk_count.set(chunk_count)],
        (WaveRecord.state == WaveState.SELECTED.value) & WaveRecord.chunk_count.does_not_exist(),
    )


def chunks_queued(number: int, now: dt.datetime) -> None:
    _update_wave(number, [WaveRecord.chunks_queued_at.set(now)], WaveRecord.chunks_queued_at.does_not_exist())


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


def _member(applicant: ApplicantRecord, wave: int, now: dt.datetime, carried_over: bool) -> WaveMemberRecord:
    return WaveMemberRecord(
        pool=pool_key(wave, member_shard(applicant.applicant_id)),
        applicant_id=applicant.applicant_id,
        tier=int(applicant.tier or LAST_TIER),
        province=applicant.province_code,
        family=applicant.family,
        joined_at=now,
        carried_over=carried_over,
    )


def _into_pool(
    applicant: ApplicantRecord, wave: int, now: dt.datetime, *, carried_over: bool
) -> Callable[[TransactWrite], None]:
    """The transaction's part that puts an applicant into a wave's pool, only while that wave is open."""

    def membership(transaction: TransactWrite) -> None:
        transaction.condition_check(WaveRecord, wave, condition=WaveRecord.state == WaveState.OPEN.value)
        transaction.save(
            _member(applicant, wave, now, carried_over=carried_over),
            condition=WaveMemberRecord.applicant_id.does_not_exist(),
        )

    return membership


def join(applicant: ApplicantRecord, wave: int, now: dt.datetime, counter_shards: int) -> bool:
    """ELIGIBLE -> JOINED into an open wave, with its pool membership, in one transaction."""
    return applicants.transition(
        applicant.applicant_id,
        Status.ELIGIBLE,
        [
            ApplicantRecord.status.set(Status.JOINED.value),
            ApplicantRecord.wave.set(wave),
            ApplicantRecord.joined_at.set(now),
        ],
        now=now,
        counted=[FunnelStage.JOINED],
        counter_shards=counter_shards,
        also=_into_pool(applicant, wave, now, carried_over=False),
    )


def accept(
    applicant_id: str, wave: int, card_number: str, *, family: str, now: dt.datetime, counter_shards: int
) -> bool:
    """JOINED (in this wave) -> ACCEPTED with its card; the family card remembers the acceptance."""

    def remember_family(transaction: TransactWrite) -> None:
        transaction.update(FamilyRecord(family=family), actions=[FamilyRecord.accepted.add({applicant_id})])

    return applicants.transition(
        applicant_id,
        Status.JOINED,
        [
            ApplicantRecord.status.set(Status.ACCEPTED.value),
            ApplicantRecord.card_number.set(card_number),
            ApplicantRecord.accepted_at.set(now),
        ],
        now=now,
        counted=[FunnelStage.ACCEPTED],
        counter_shards=counter_shards,
        condition=ApplicantRecord.wave == wave,
        also=remember_family,
    )


def carry_over(applicant: ApplicantRecord, from_wave: int, now: dt.datetime) -> bool:
    """Not selected in `from_wave`: JOINED into the next, open wave, without the applicant doing anything."""
    following = from_wave + 1
    return applicants.transition(
        applicant.applicant_id,
        Status.JOINED,
        [
            ApplicantRecord.wave.set(following),
            ApplicantRecord.previous_wave.set(from_wave),
            ApplicantRecord.previous_result.set(Status.NOT_SELECTED.value),
        ],
        now=now,
        condition=ApplicantRecord.wave == from_wave,
        also=_into_pool(applicant, following, now, carried_over=True),
    )


def members(wave: int) -> Iterator[WaveMemberRecord]:
    """The pool of a wave, in applicant-id order, one query per shard."""
    bind()
    for shard in range(SHARDS):
        yield from WaveMemberRecord.query(pool_key(wave, shard), consistent_read=True)


def read_pool(wave: int) -> Pool:
    # Straight into the Pool's byte columns: lists of a str per member would peak at 3.2 GiB for 10 million
    # members, these at about 1 GiB (bench/bench_pool_read.py).
    ids, tiers, provinces, families = bytearray(), bytearray(), bytearray(), bytearray()
    for member in members(wave):
        ids += member.applicant_id.encode("ascii")
        tiers.append(int(member.tier))
        provinces += member.province.encode("ascii")
        families += family_key(member.family)
    return Pool(bytes(ids), bytes(tiers), bytes(provinces), bytes(families))


def family_acceptances() -> dict[bytes, int]:
    """How many of each family card were accepted so far, by family key (only families with acceptances are
    stored, so this reads the acceptances ever made, not the applicants)."""
    bind()
    return {family_key(record.family): len(record.accepted or ()) for record in FamilyRecord.scan()}
