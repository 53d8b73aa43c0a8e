"""Revocation fan-out: members per second through the revocation consumer, its peak memory, and what that means
for 5,600,000 members (the 2020 total) on Lambda.

Issue 10. The daily schedule queues one message per shard of a wave's members (`services.revocation.sweep`); the
revocation consumer (`functions.membership.revocation_consumer`, the handler Lambda runs) reads a page of its shard
(the members table's by-cohort index), revokes each member due in one transaction, and hands the rest on as a new
message. Here a wave of `--members` members, spread over the 32 shards, goes through that handler in-process, as
Lambda-shaped SQS events of one record, every handed-on message fed back in until none is left; every AWS call is
answered from memory (bench/_common.CannedAWS: validation, serialisation, signing and parsing still run, only the
socket is skipped):
  Query             a page of the shard (built from the request's start key and Limit, as DynamoDB pages);
  GetItem           the wave pointer (the wave open now, which gets the refill);
  TransactWriteItems, SendMessage(Batch)   accepted.
`--due-share` of the members have bought no training (2020: 364,622 revoked of 5,600,000, 6.5%); the others
have a live purchase and are only read. Time in the revocation transactions is measured apart, so the figures
split into a cost per member read and a cost per member revoked; the stub's own time (building the pages) is
measured and left out. Peak memory: tracemalloc over one invocation (one page), and the process's maximum RSS.

The extrapolation to Lambda: each consumer works its messages one after another, so on DynamoDB a member costs
its CPU here plus the latency of its calls (`--read-ms` per page and per read of the open wave, once a page;
`--transaction-ms` per revocation: assumptions, stated in the output), and `REVOCATION_MAX_CONCURRENCY`
consumers work at once.

Run: .venv/bin/python bench/bench_revocation.py [--members 100000] [--due-share 0.065] [--page 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import time
from collections import deque
from typing import Any

import _common
from _common import quiet, stamp, table

WAVE = 1
OPEN_WAVE = 7  # the wave open when the sweep runs, which the places freed go to
ACCEPTED = dt.datetime(2020, 4, 17, 3, 0, tzinfo=dt.UTC)
SWEPT = ACCEPTED + dt.timedelta(days=31)
TOTAL_2020 = 5_600_000
SHARDS = 32


class Cohorts(_common.CohortPages):
    """The members' pages (`--due-share` of them with no live purchase), and GetItem answering the wave pointer."""

    def __init__(self, members: int, due_share: float, seed: int = 10) -> None:
        super().__init__(members, seed)
        from devstack.hooks import JSON10, answer

        self.due = {i for i in self.ids() if self.rng.random() < due_share}
        self.answers["DynamoDB_20120810.GetItem"] = answer(
            {"Item": {"number": {"N": "0"}, "current": {"N": str(OPEN_WAVE)}}}, JSON10
        )
        balance = str(1_000_000)
        self.template = {
            "card_number": {"S": "7000000000000000"},
            "wave": {"N": str(WAVE)},
            "state": {"S": "ACTIVE"},
            "granted": {"N": balance},
            "balance": {"N": balance},
            "purchased": {"N": "0"},
            "refunded": {"N": "0"},
            "returned": {"N": "0"},
            "accepted_at": {"S": stamp(ACCEPTED)},
            "first_purchase_deadline": {"S": stamp(ACCEPTED + dt.timedelta(days=30))},
            "updated_at": {"S": stamp(ACCEPTED)},
        }

    def item(self, applicant_id: str, cohort: str) -> dict[str, Any]:
        bought = "0" if applicant_id in self.due else "1"
        return {
            **self.template,
            "applicant_id": {"S": applicant_id},
            "cohort": {"S": cohort},
            "live_purchases": {"N": bought},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--due-share", type=float, default=364_622 / TOTAL_2020)
    parser.add_argument("--page", type=int, default=500, help="members per page (cohort_page_size)")
    parser.add_argument("--read-ms", type=float, default=10.0, help="assumed DynamoDB latency of a read")
    parser.add_argument("--transaction-ms", type=float, default=25.0, help="assumed latency of a transaction")
    args = parser.parse_args()

    _common.clean_environment({**_common.stub_environment(), "PRAKERJA_COHORT_PAGE_SIZE": str(args.page)})
    stub = Cohorts(args.members, args.due_share)
    _common.install_canned_aws(stub)
    stub.capture = {"AmazonSQS.SendMessage"}

    from functions.domain.messages import RevocationShard
    from functions.membership import revocation_consumer
    from functions.resources import REVOCATION_MAX_CONCURRENCY
    from functions.store import revocations
    from tests.helpers import FakeLambdaContext, sqs_event

    revoking = {"seconds": 0.0, "count": 0}
    revoke = revocations.revoke

    def timed_revoke(*positional: Any, **named: Any) -> bool:
        began = time.perf_counter()
        done = revoke(*positional, **named)
        revoking["seconds"] += time.perf_counter() - began
        revoking["count"] += done
        return done

    revocations.revoke = timed_revoke
    context = FakeLambdaContext()
    pending = deque(RevocationShard(wave=WAVE, shard=s, swept_at=SWEPT).model_dump_json() for s in range(SHARDS))

    def one(body: str) -> None:
        answer = revocation_consumer(sqs_event(body), context)
        assert answer == {"batchItemFailures": []}, answer
        for sent in stub.captured.pop("AmazonSQS.SendMessage", []):
            pending.append(json.loads(sent)["MessageBody"])  # the rest of the shard, handed on

    peak = _common.warm_up_and_peak(lambda: one(pending.popleft()))
    revoking.update(seconds=0.0, count=0)
    stub.stub_seconds, stub.served = 0.0, 0
    invocations = 2
    began = time.perf_counter()
    with quiet():
        while pending:
            one(pending.popleft())
            invocations += 1
    elapsed = time.perf_counter() - began - stub.stub_seconds
    members = stub.served  # read in the timed invocations
    revoked = revoking["count"]
    revoking_seconds = revoking["seconds"]
    per_read = (elapsed - revoking_seconds) / members
    per_revocation = revoking_seconds / max(revoked, 1)

    print(f"Revocation fan-out, in-process, AWS answered from memory: {args.members:,} members in {SHARDS} shards,")
    print(f"pages of {args.page}; {invocations} invocations, the first two not timed (imports; tracemalloc). Timed:")
    print(f"{members:,} members read, {revoked:,} due and revoked ({revoked / members:.1%})")
    print(f"calls: {dict(stub.calls)}\n")
    print(
        table(
            ["figure", "value"],
            [
                ["members/s (all work, one process)", f"{members / elapsed:,.0f}"],
                ["CPU per member read (us)", f"{per_read * 1e6:,.0f}"],
                ["CPU per member revoked, its transaction (us)", f"{per_revocation * 1e6:,.0f}"],
                ["the stub's own time, left out (s)", f"{stub.stub_seconds:.2f}"],
                ["peak memory of one invocation, tracemalloc (MiB)", f"{peak / 2**20:.1f}"],
                ["max RSS of this process (MiB)", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"],
            ],
        )
    )

    due = round(TOTAL_2020 * args.due_share)
    pages = TOTAL_2020 / args.page + SHARDS
    cpu = TOTAL_2020 * per_read + due * per_revocation
    waiting = pages * 2 * args.read_ms / 1000 + due * args.transaction_ms / 1000  # a page: its Query, the pointer
    lambda_seconds = (cpu + waiting) / REVOCATION_MAX_CONCURRENCY
    print(
        f"\nAt {TOTAL_2020:,} members ({due:,} revoked at {args.due_share:.1%}), {REVOCATION_MAX_CONCURRENCY} "
        f"consumers, assuming {args.read_ms:.0f} ms a read and {args.transaction_ms:.0f} ms a transaction:"
    )
    print(
        table(
            ["part", "seconds of one consumer"],
            [
                ["CPU (as measured here)", f"{cpu:,.0f}"],
                [f"waiting on DynamoDB ({pages:,.0f} pages, each 2 reads; {due:,} transactions)", f"{waiting:,.0f}"],
                [f"wall time with {REVOCATION_MAX_CONCURRENCY} consumers", f"{lambda_seconds:,.0f}"],
            ],
        )
    )
    transactions_per_second = due / lambda_seconds if lambda_seconds else 0
    print(
        f"\n{lambda_seconds / 60:,.0f} minutes for the 2020 total, {transactions_per_second:,.0f} revocations/s at "
        f"most: each writes 5 items (the member, its ledger entry, 3 counter shards) and checks the wave, about "
        f"{transactions_per_second * 2 * 5:,.0f} WCU/s in all (2 per item in a transaction), far below an "
        "on-demand table's 40,000 and a partition's 1,000 (the counters are spread over shards)."
    )


if __name__ == "__main__":
    main()
