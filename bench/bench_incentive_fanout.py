"""The incentive schedule's fan-out: members per second through the incentive consumer, its peak memory, and what
that means for the deployed fan-out.

Issue 11. The daily schedule queues one message per cohort shard of each published wave
(`services.incentive_payments.sweep`); the incentive consumer (`functions.payouts.incentive_consumer`, the handler
Lambda runs, `ShardPayer` over `CohortWalk`) reads a page of its shard (the members table's by-cohort index), and for
each member due an incentive reads the payment (none yet), screens the member again (the applicant's sealed data
opened, the civil registry asked, the NIK check's decision), queues the payment in one transaction and sends its
message, then hands the rest of the shard on. Here `--members` members of one wave, spread over the 32 shards, go
through that handler in-process as Lambda-shaped SQS events of one record, every handed-on message fed back in until
none is left. Nothing leaves the process:
  AWS           every call answered from memory (bench/_common.CannedAWS: validation, serialisation, signing and
                parsing still run, only the socket is skipped): the pages (built from the request's start key and
                Limit, as DynamoDB pages), the applicant (its personal data sealed for it), no payment yet, the
                transaction and the messages accepted;
  registry      the app's own client (`HttpCivilRegistry`: its ceiling, breaker and parsing) with only its socket
                replaced by an answer from memory, the ceiling lifted so that it measures CPU (the ceiling comes
                back in the extrapolation).
`--due-share` of the members are due their first incentive (the default 1/30: four incentives 30 days apart, due
dates spread over the month), `--held-share` of those are now students and are held; the others have been paid
their first and wait 20 more days for the second. CPU is measured with `time.process_time` (these machines are
shared: wall time is printed beside it), split into a cost per member read and a cost per member due (the time
inside the visits of due members); the stub's own time (pages, sealing) is measured and left out. Peak memory:
tracemalloc over one invocation (one page), and the process's maximum RSS before and after the run. On a busy
machine `--max-seconds` bounds the walk: the pending messages go round the shards, so a walk stopped early has read
the first pages of every shard; the extrapolation is for all `--members`.

The extrapolation: each of `INCENTIVE_MAX_CONCURRENCY` consumers works its messages one after another, so a member
costs its CPU here plus the latency of its calls (assumed, stated in the output), and the registry's ceiling bounds
the screenings: the screening's clients share SCREENING_SHARE_OF_REGISTRY of registry_requests_per_second.

Run: .venv/bin/python bench/bench_incentive_fanout.py [--members 100000] [--due-share 0.0333] [--held-share 0.01]
     (the issue's size: --members 1000000 [--max-seconds 180])
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
from _common import item_json, quiet, table, table_of

WAVE = 1
SWEPT = dt.datetime(2020, 6, 1, 2, 0, tzinfo=dt.UTC)  # 09:00 WIB
COMPLETED = SWEPT - dt.timedelta(days=3)
PAID_BEFORE = SWEPT - dt.timedelta(days=10)  # the first incentive of those not due fell due then
NIK, HELD_NIK = "3171015708950001", "3171015708950002"


def _person(nik: str) -> dict[str, Any]:
    return {
        "nik": nik,
        "kk_number": "3171010101010001",
        "full_name": "Siti Aminah",
        "birth_date": "1995-08-17",
        "gender": "F",
    }


class Standings(_common.CohortPages):
    """The members' pages as the incentive schedule reads them, and GetItem answering the applicant (its personal
    data sealed for it) and no payment."""

    def __init__(self, members: int, due_share: float, held_share: float, seed: int = 11) -> None:
        super().__init__(members, seed)
        from functions.adapters import personal_data
        from functions.adapters.purposes import Purpose
        from functions.domain.incentives import PayoutAccountStatus
        from functions.domain.membership import MembershipState
        from functions.settings import settings
        from functions.store.models import ApplicantRecord, MemberRecord

        self.due = {i for i in self.ids() if self.rng.random() < due_share}
        self.held = {i for i in self.due if self.rng.random() < held_share}
        self.applicants_table = settings().applicants_table
        self.answered["DynamoDB_20120810.GetItem"] = self._get_item
        self.sealed_account = personal_data.seal_text("081234560001", "template", Purpose.PAYOUT_ACCOUNT)
        member = MemberRecord(
            applicant_id="template",
            card_number="7000000000000000",
            wave=WAVE,
            cohort="template",
            state=MembershipState.ACTIVE.value,
            granted=1_000_000,
            balance=0,
            purchased=1_000_000,
            accepted_at=SWEPT - dt.timedelta(days=60),
            first_purchase_deadline=SWEPT - dt.timedelta(days=30),
            live_purchases=1,
            first_purchase_at=SWEPT - dt.timedelta(days=50),
            first_completed_at=COMPLETED - dt.timedelta(days=30),
            first_reviewed_at=COMPLETED - dt.timedelta(days=30),
            updated_at=PAID_BEFORE,
            payout_provider="OVO",
            payout_account_sealed=self.sealed_account,
            payout_account_last4="0001",
            payout_status=PayoutAccountStatus.VERIFIED.value,
            payout_verified_at=COMPLETED - dt.timedelta(days=30),
            incentives_settled=1,
            last_incentive_due_at=PAID_BEFORE,
        )
        self.waiting = item_json(member)  # paid the first, the second 20 days away
        due = item_json(member)
        del due["last_incentive_due_at"]
        self.due_template = {
            **due,
            "incentives_settled": {"N": "0"},
            "first_completed_at": {"S": _common.stamp(COMPLETED)},
            "first_reviewed_at": {"S": _common.stamp(COMPLETED)},
            "payout_verified_at": {"S": _common.stamp(COMPLETED)},
        }
        self.applicant = ApplicantRecord(
            applicant_id="template",
            status="ACCEPTED",
            personal_data=b"",
            nik_hash="-",
            email_hash="-",
            phone_hash="-",
            family="-",
            nik_last4="0001",
            regency_code="3171",
            province_code="31",
            employment_status="laid_off",
            declared_social_aid=False,
            submitted_at=SWEPT - dt.timedelta(days=90),
            created_at=SWEPT - dt.timedelta(days=90),
            updated_at=SWEPT - dt.timedelta(days=60),
        )

    def item(self, applicant_id: str, cohort: str) -> dict[str, Any]:
        template = self.due_template if applicant_id in self.due else self.waiting
        return {**template, "applicant_id": {"S": applicant_id}, "cohort": {"S": cohort}}

    def _get_item(self, request: Any) -> Any:
        from devstack.hooks import JSON10, answer, respond
        from functions.adapters import personal_data
        from functions.adapters.purposes import Purpose

        if table_of(request) != self.applicants_table:
            return respond(request, self.answers["DynamoDB_20120810.GetItem"])  # no payment yet
        applicant_id = json.loads(request.body)["Key"]["applicant_id"]["S"]
        nik = HELD_NIK if applicant_id in self.held else NIK
        self.applicant.applicant_id = applicant_id
        self.applicant.personal_data = personal_data.seal_json(_person(nik), applicant_id, Purpose.APPLICANT_DATA)
        return respond(request, answer({"Item": item_json(self.applicant)}, JSON10))


class RegistryFromMemory:
    """Stands in for the registry client's connection pool: the registry's answer for the NIK asked, from memory
    (the one held is now a student), so that the client's own ceiling, breaker and parsing still run."""

    def __init__(self) -> None:
        found = {"occupation": "PRIVATE", "past_recipient": False, "social_aid": False}
        self.answers = {
            NIK: json.dumps({**_person(NIK), **found, "student": False}).encode(),
            HELD_NIK: json.dumps({**_person(HELD_NIK), **found, "student": True}).encode(),
        }
        self.lookups = 0

    def request(self, method: str, url: str, body: bytes | None = None, **_: Any) -> Any:
        import urllib3

        self.lookups += 1
        nik = json.loads(body or b"{}")["nik"]
        return urllib3.HTTPResponse(body=self.answers[nik], status=200, preload_content=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--due-share", type=float, default=1 / 30)
    parser.add_argument("--held-share", type=float, default=0.01, help="of those due, now barred and held")
    parser.add_argument("--page", type=int, default=500, help="members per page (cohort_page_size)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="stop the walk after this long (wall); the shards' first pages come first",
    )
    parser.add_argument("--read-ms", type=float, default=10.0, help="assumed DynamoDB latency of a read")
    parser.add_argument("--transaction-ms", type=float, default=25.0, help="assumed latency of a transaction")
    parser.add_argument("--send-ms", type=float, default=10.0, help="assumed latency of an SQS send")
    parser.add_argument("--registry-ms", type=float, default=50.0, help="assumed latency of a registry look-up")
    args = parser.parse_args()

    print(f"before: {_common.load()}", flush=True)
    _common.clean_environment(
        {
            **_common.stub_environment(),
            "PRAKERJA_COHORT_PAGE_SIZE": str(args.page),
            "PRAKERJA_REGISTRY_URL": "http://registry.invalid",
            "PRAKERJA_REGISTRY_REQUESTS_PER_SECOND": "1e9",  # CPU here; the ceiling comes back in the extrapolation
        }
    )
    _common.install_canned_aws(_common.CannedAWS())  # answers the sealing's KMS call in building the members
    stub = Standings(args.members, args.due_share, args.held_share)
    _common.install_canned_aws(stub)
    stub.capture = {"AmazonSQS.SendMessage"}
    built_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    from functions.adapters.civil_registry import screening_registry
    from functions.domain import notices
    from functions.domain.incentives import IncentiveRules, IncentiveStanding
    from functions.domain.messages import IncentiveShard
    from functions.payouts import incentive_consumer
    from functions.resources import INCENTIVE_MAX_CONCURRENCY, INCENTIVES_QUEUE, SCREENING_SHARE_OF_REGISTRY
    from functions.services import incentive_payments
    from functions.settings import settings
    from functions.store.members import COHORT_SHARDS
    from tests.helpers import FakeLambdaContext, sqs_record

    registry_answers = RegistryFromMemory()
    screening_registry().http = registry_answers  # type: ignore[attr-defined]
    visiting = {"seconds": 0.0, "stub": 0.0, "due": 0}
    pay_if_due = incentive_payments._pay_if_due

    def timed_visit(member: IncentiveStanding, now: dt.datetime, rules: IncentiveRules) -> list[notices.Told]:
        if member.applicant_id not in stub.due:
            return pay_if_due(member, now, rules)
        began, stubbed = time.process_time(), stub.stub_cpu_seconds
        try:
            return pay_if_due(member, now, rules)
        finally:
            visiting["seconds"] += time.process_time() - began
            visiting["stub"] += stub.stub_cpu_seconds - stubbed
            visiting["due"] += 1

    incentive_payments._pay_if_due = timed_visit
    context = FakeLambdaContext()
    own_queue = settings().incentives_queue_url
    pending = deque(IncentiveShard(wave=WAVE, shard=s, swept_at=SWEPT).model_dump_json() for s in range(COHORT_SHARDS))

    def one(body: str) -> None:
        answer = incentive_consumer({"Records": [sqs_record(body, queue=INCENTIVES_QUEUE)]}, context)
        assert answer == {"batchItemFailures": []}, answer
        for sent in stub.captured.pop("AmazonSQS.SendMessage", []):
            message = json.loads(sent)
            if message["QueueUrl"] == own_queue:
                pending.append(message["MessageBody"])  # the rest of the shard, handed on

    peak = _common.warm_up_and_peak(lambda: one(pending.popleft()))
    visiting.update(seconds=0.0, stub=0.0, due=0)
    stub.stub_seconds = stub.stub_cpu_seconds = 0.0
    stub.served = 0
    stub.calls.clear()
    invocations = 2
    began_wall, began_cpu = time.perf_counter(), time.process_time()
    with quiet():
        while pending and (args.max_seconds is None or time.perf_counter() - began_wall < args.max_seconds):
            one(pending.popleft())
            invocations += 1
    wall = time.perf_counter() - began_wall
    cpu = time.process_time() - began_cpu - stub.stub_cpu_seconds
    members, due = stub.served, int(visiting["due"])
    due_cpu = visiting["seconds"] - visiting["stub"]
    per_read = (cpu - due_cpu) / members
    per_due = due_cpu / max(due, 1)
    queued = stub.calls["DynamoDB_20120810.TransactWriteItems"]

    print(f"after: {_common.load()}")
    if registry_answers.lookups < due:
        # A member due who is never screened stops its shard where it is, and the walk would go round the same
        # page for as long as it is let: figures of that would measure nothing.
        raise SystemExit(f"{due:,} members due but {registry_answers.lookups:,} screened: the walk is stuck")
    print(f"\nIncentive fan-out, in-process, AWS and the registry answered from memory: {args.members:,} members in")
    print(f"{COHORT_SHARDS} shards, pages of {args.page}; {invocations} invocations, the first two not timed. Timed:")
    stopped = f" (stopped by --max-seconds; {len(pending)} messages left)" if pending else ""
    print(f"{members:,} members read{stopped}, {due:,} due ({due / members:.1%}): {queued:,} queued or held,")
    print(f"{registry_answers.lookups:,} registry look-ups in all")
    print(f"calls: {dict(stub.calls)}\n")
    print(
        table(
            ["figure", "value"],
            [
                ["members/s, one process, by CPU time", f"{members / cpu:,.0f}"],
                ["members/s, one process, by wall time (a shared machine)", f"{members / wall:,.0f}"],
                ["CPU per member read (us)", f"{per_read * 1e6:,.0f}"],
                ["CPU per member due: read, screened, queued (us)", f"{per_due * 1e6:,.0f}"],
                ["the stub's own CPU time, left out (s)", f"{stub.stub_cpu_seconds:.2f}"],
                ["peak memory of one invocation, tracemalloc (MiB)", f"{peak / 2**20:.1f}"],
                ["max RSS with the synthetic members built, before the run (MiB)", f"{built_rss:,.0f}"],
                [
                    "max RSS of this process at the end (MiB)",
                    f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f}",
                ],
            ],
        )
    )
    extrapolate(
        args, args.members, len(stub.due), per_read, per_due, INCENTIVE_MAX_CONCURRENCY, SCREENING_SHARE_OF_REGISTRY
    )


def extrapolate(
    args: argparse.Namespace,
    members: int,
    due: int,
    per_read: float,
    per_due: float,
    consumers: int,
    registry_share: float,
) -> None:
    """What the run's members would take deployed: `consumers` consumers over the shards, each member its CPU plus
    its calls' latency, and the screenings no faster than the registry's ceiling allows."""
    from functions.settings import Settings

    deployed_rps = float(Settings.model_fields["registry_requests_per_second"].default)
    pages = members / args.page + 32
    cpu = members * per_read + due * per_due
    # a page: its Query and the hand-on; a member due: the payment and the applicant read, the look-up, the
    # transaction and the payment's message
    waiting = (
        pages * (args.read_ms + args.send_ms)
        + due * (2 * args.read_ms + args.registry_ms + args.transaction_ms + args.send_ms)
    ) / 1000
    by_latency = (cpu + waiting) / consumers
    ceiling = deployed_rps * registry_share  # the screening's share, split among the consumers' clients
    by_ceiling = due / ceiling
    print(
        f"\nDeployed, {consumers} consumers (INCENTIVE_MAX_CONCURRENCY) over the 32 shards, assuming "
        f"{args.read_ms:g} ms a read, {args.transaction_ms:g} ms a transaction, {args.send_ms:g} ms an SQS send and "
        f"{args.registry_ms:g} ms a registry look-up:"
    )
    print(
        table(
            ["part", "seconds"],
            [
                [f"CPU (as measured here), {members:,} members", f"{cpu:,.0f}"],
                [f"waiting on calls ({pages:,.0f} pages; {due:,} due, 5 calls each)", f"{waiting:,.0f}"],
                [f"wall time with {consumers} consumers, by CPU and latency", f"{by_latency:,.0f}"],
                [f"the registry's ceiling: {ceiling:g} look-ups/s for {due:,} screenings", f"{by_ceiling:,.0f}"],
                ["the fan-out's wall time (the larger)", f"{max(by_latency, by_ceiling):,.0f}"],
            ],
        )
    )
    bound = "the registry's ceiling" if by_ceiling > by_latency else "the calls' latency over the consumers"
    print(
        f"\n{max(by_latency, by_ceiling) / 60:,.1f} minutes, bound by {bound}; the screening's clients share "
        f"{registry_share:.0%} of registry_requests_per_second ({deployed_rps:g}/s, the default: "
        f"SCREENING_SHARE_OF_REGISTRY), the NIK checks the rest."
    )


if __name__ == "__main__":
    main()
