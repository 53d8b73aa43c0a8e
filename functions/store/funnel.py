"""The funnel counters: how many applicants reached each stage, each counter spread over shards so that a
burst of writes meets no hot item. A status change counts its stages in its own transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pynamodb.transactions import TransactWrite

from functions.domain.lifecycle import FunnelStage
from functions.store.models import CounterRecord, bind, counter_shard, funnel_counter_key
from functions.store.transactions import Build


def _counter_shards() -> int:
    return bind().counter_shards


def counter_key(stage: FunnelStage, applicant_id: str) -> str:
    return funnel_counter_key(stage.value, counter_shard(applicant_id))


def count(stages: Sequence[FunnelStage], applicant_id: str) -> Build:
    """The transaction's part that counts an applicant into funnel stages (a shard of each, by its id)."""

    def counting(transaction: TransactWrite) -> None:
        for stage in stages:
            transaction.update(
                CounterRecord(counter=counter_key(stage, applicant_id)), actions=[CounterRecord.total.add(1)]
            )

    return counting


def funnel_totals(stages: Iterable[FunnelStage]) -> dict[FunnelStage, int]:
    shards = _counter_shards()
    wanted = list(stages)
    keys = [f"{stage.value}#{shard}" for stage in wanted for shard in range(shards)]
    totals = dict.fromkeys(wanted, 0)
    for record in CounterRecord.batch_get(keys):
        totals[FunnelStage(record.counter.split("#", 1)[0])] += int(record.total)
    return totals
