"""The fault-injection run: registrations through the local stack while it is made to misbehave, by configuration:

- every SQS message is delivered at least twice, some out of order (DEVSTACK_DELIVER_TWICE);
- consumer processes are killed (SIGKILL) at random moments, mid-batch, and restarted;
- a share of DynamoDB calls fail with throttling errors (DEVSTACK_DYNAMODB_THROTTLE, 15% by default);
- the civil registry is slow for a stretch and down for another.

A wave is closed and published in the middle of it. At the end the run checks, against the store itself, that
every 202 became exactly one stored applicant, that every applicant reached a final verification state, that
the dead-letter queues are empty or redrive cleanly with the documented command, and that the wave's published
draw verifies. An applicant that cannot verify its email within its deadline is counted (with why) and the run goes
on. The report adds the email-code delivery latency (devstack.code_latency). `python -m devstack faults [--count
10000]`.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from tqdm import tqdm

from devstack import crowd
from devstack.code_latency import CodeLatency
from devstack.population import Planned, plan_population
from devstack.registry import write_csv
from devstack.stack import EmbeddedStack
from functions.domain.lifecycle import Status
from functions.resources import EMAIL_CODES_QUEUE, INTAKE_QUEUE, NIK_CHECK_QUEUE, NOTIFICATIONS_QUEUE, PUBLISH_QUEUE
from functions.verify_draw import Disagreement, verify
from ops.redrive import redrive

QUEUES = (INTAKE_QUEUE, EMAIL_CODES_QUEUE, NOTIFICATIONS_QUEUE, NIK_CHECK_QUEUE, PUBLISH_QUEUE)
# The backlog left when the last applicant verified drains at the emulator's pace (moto answers one request at a
# time); at 10,000 on a loaded 2-core machine 600 s was not always enough, so the wait grows with the run.
SETTLE_SECONDS_PER_APPLICANT = 0.3
# Decided: the NIK check stored its decision (whatever came after it, a wave's join, acceptance, ...).
DECIDED_AT = "nik_checked_at"


@dataclass
class Settled:
    """What the queues held once the run was over: the dead letters, what redriving them left, what never drained."""

    dead_letters: dict[str, int] = field(default_factory=dict)
    redriven: int = 0
    dead_letters_after: dict[str, int] = field(default_factory=dict)
    left_in_queues: str = ""  # what the queues still held when the run stopped waiting for them

    @property
    def clean(self) -> bool:
        return not any(self.dead_letters_after.values()) and not self.left_in_queues

    def lines(self) -> list[str]:
        """Its lines in a run's report."""
        dead = {name: count for name, count in self.dead_letters.items() if count}
        return [
            f"dead letters at the end     {dead} -> redriven {self.redriven} -> {self.dead_letters_after}",
            f"left in the queues          {self.left_in_queues or 'nothing'}",
        ]


def took(seconds: float, stages: dict[str, float]) -> str:
    """A run's report line of its time, stage by stage."""
    by_stage = ", ".join(f"{name} {stage_seconds:.0f} s" for name, stage_seconds in stages.items())
    return f"took                        {seconds:.0f} s ({by_stage})"


@dataclass
class FaultResult:
    count: int
    answers: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    states: Counter[str] = field(default_factory=Counter)
    undecided: int = 0
    unverified: Counter[str] = field(default_factory=Counter)  # why, for those who meant to verify and could not
    code_latency: CodeLatency = field(default_factory=CodeLatency)
    kills: int = 0
    registry_outages: list[str] = field(default_factory=list)
    settled: Settled = field(default_factory=Settled)
    wave: str = ""
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.undecided == 0
            and not self.unverified
            and self.settled.clean
            and self.wave.startswith("OK")
        )

    def report(self) -> str:
        why = f" {dict(self.unverified)}" if self.unverified else ""
        lines = [
            f"registrations sent          {self.count:,} ({dict(self.answers)})",
            f"accepted (202) / stored     {self.accepted:,} / {self.stored:,}",
            f"lost                        {self.lost}",
            f"duplicated                  {self.duplicated}",
            f"final states                {dict(self.states)}",
            f"not in a final state        {self.undecided}",
            f"could not verify in time    {sum(self.unverified.values())}{why}",
            f"email code, stored to sent  {self.code_latency.line()}",
            f"consumer processes killed   {self.kills}",
            f"civil registry              {'; '.join(self.registry_outages)}",
            *self.settled.lines(),
            f"wave drawn mid-run          {self.wave}",
            took(self.seconds, self.stages),
        ]
        return "\n".join("  " + line for line in lines)


@dataclass(frozen=True)
class Outages:
    """An outside service made to misbehave on a plan: (seconds into the run, what, the change), through its control
    (`EmbeddedStack.registry_control`, ...), and the change that ends it all."""

    control: Callable[..., dict[str, Any]]
    plan: tuple[tuple[float, str, dict[str, Any]], ...]
    end: dict[str, Any]


def registry_outages(stack: EmbeddedStack) -> Outages:
    """The civil registry slow for a stretch, then down for another."""
    plan: tuple[tuple[float, str, dict[str, Any]], ...] = (
        (20.0, "slow", {"latency_ms": 800}),
        (35.0, "up", {"latency_ms": 0}),
        (50.0, "down", {"mode": "down"}),
        (65.0, "up", {"mode": "up"}),
    )
    return Outages(stack.registry_control, plan, {"mode": "up", "latency_ms": 0})


class Chaos:
    """Kills a random consumer process (of `pollers`, or any) every few seconds and restarts it; plays `outages`."""

    def __init__(
        self, stack: EmbeddedStack, seed: int, outages: Outages | None = None, pollers: Collection[str] = ()
    ) -> None:
        self.stack = stack
        self.outages = outages
        self.pollers = sorted(pollers or stack.pollers)
        self.rng = random.Random(seed)  # noqa: S311 - a fault schedule, not a secret
        self.kills = 0
        self.changes: list[str] = []  # what the outages did, and when
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        started = time.monotonic()
        plan = list(self.outages.plan) if self.outages else []
        while not self.stopped.wait(self.rng.uniform(4.0, 8.0)):
            self.kill_one()
            elapsed = time.monotonic() - started
            while self.outages and plan and elapsed >= plan[0][0]:
                at, name, change = plan.pop(0)
                self.outages.control(**change)
                self.changes.append(f"{name} at {at:.0f}s")

    def kill_one(self) -> None:
        name = self.rng.choice(self.pollers)
        children = self.stack.pollers[name]
        index = self.rng.randrange(len(children))
        children[index].kill()
        children[index] = self.stack.restart_poller(name, index)
        self.kills += 1

    def __enter__(self) -> Chaos:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()
        if self.outages:
            self.outages.control(**self.outages.end)


class Client:
    """An applicant's app: retries 429s and dropped connections, with an Idempotency-Key so retries are safe."""

    def __init__(self, stack: EmbeddedStack, result: FaultResult) -> None:
        self.stack = stack
        self.result = result
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))
        self.lock = threading.Lock()

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> requests.Response:
        for _attempt in range(60):
            try:
                answer = self.http.post(f"{self.stack.api_url}{path}", json=body, headers=headers or {}, timeout=30)
            except requests.RequestException:
                time.sleep(1.0)
                continue
            with self.lock:
                self.result.answers[f"{path.split('/')[1]} {answer.status_code}"] += 1
            busy = answer.status_code in (409, 429) and answer.json()["error"]["code"] in (
                "BUSY",
                "REQUEST_IN_PROGRESS",
            )
            if busy:
                time.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            if answer.status_code >= 500:
                raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text}")
            return answer
        raise TimeoutError(f"{path} kept refusing")


def fault_settings(throttle: float) -> dict[str, str]:
    """The stack's settings for the faults it injects into its own processes (devstack.faults)."""
    return {
        "DEVSTACK_DYNAMODB_THROTTLE": str(throttle),
        "DEVSTACK_DELIVER_TWICE": "1",
        # A killed consumer's batch comes back sooner than Lambda's default would bring it.
        "DEVSTACK_VISIBILITY_SECONDS": "10",
    }


def _each(label: str, items: list[Any], work: Any) -> list[Any]:
    return crowd.each(label, items, work, workers=16)


def run(
    count: int, workdir: Path, seed: int = 2021, throttle: float = 0.15, verify_seconds: float = 600
) -> FaultResult:
    started = time.monotonic()
    plan = plan_population(count, seed)
    result = FaultResult(count=count)
    settings = {**fault_settings(throttle), "PRAKERJA_WAVE_QUOTA": str(max(1, count // 10))}
    with EmbeddedStack(workdir, gateway_workers=4, settings=settings, uncapped_pollers=3) as stack:
        write_csv(stack.registry_csv, [p.registry for p in plan if p.registry])
        client = Client(stack, result)
        mark = time.monotonic()

        def stage(name: str) -> None:
            nonlocal mark
            result.stages[name] = time.monotonic() - mark
            mark = time.monotonic()

        with Chaos(stack, seed, registry_outages(stack)) as chaos:
            accepted = _each("registering", list(enumerate(plan)), lambda item: _register(client, *item))
            stage("registering")
            by_index = dict(enumerate(accepted))
            verifiers = [i for i, p in enumerate(plan) if p.verifies_email]
            half = verifiers[: len(verifiers) // 2]

            def verify_each(label: str, indexes: list[int]) -> set[str]:
                """Verifies each; counts who could not and why; the ids that did."""
                outcomes = _each(label, indexes, lambda i: _verify(client, stack, by_index[i], verify_seconds))
                result.unverified.update(outcome for outcome in outcomes if outcome)
                return {
                    by_index[i]["applicant_id"] for i, outcome in zip(indexes, outcomes, strict=True) if not outcome
                }

            verified = verify_each("verifying (first half)", half)
            stage("verifying half")
            result.wave = _wave_mid_run(client, stack, [a for a in accepted if a["applicant_id"] in verified])
            stage("wave mid-run")
            verified |= verify_each("verifying (second half)", verifiers[len(half) :])
            stage("verifying the rest")
            _wait_decided(stack, verified)
            stage("NIK checks")
        result.kills, result.registry_outages = chaos.kills, chaos.changes
        result.settled = settle(stack, QUEUES, timeout_seconds=max(600.0, SETTLE_SECONDS_PER_APPLICANT * count))
        stage("draining and redriving")
        _check(stack, plan, accepted, verified, result)
        result.code_latency = stack.code_latency()
    result.seconds = time.monotonic() - started
    print(result.report())
    return result


def _register(client: Client, index: int, planned: Planned) -> dict[str, Any]:
    answer = client.post("/registrations", planned.person.registration(), {"Idempotency-Key": f"fault-run-{index:07d}"})
    if answer.status_code != 202:
        raise RuntimeError(f"registration {index} answered {answer.status_code}: {answer.text}")
    accepted: dict[str, Any] = answer.json()
    return accepted


def _verify(client: Client, stack: EmbeddedStack, applicant: dict[str, Any], seconds: float) -> str | None:
    """Reads the newest code from the outbox and verifies; asks for a new code when none comes. None when verified,
    else why not (no code within `seconds`, or an answer that ended the attempt)."""
    applicant_id = applicant["applicant_id"]
    bearer = {"Authorization": f"Bearer {applicant['access_token']}"}
    deadline = time.monotonic() + seconds
    asked = time.monotonic()
    tried: set[str] = set()
    try:
        while time.monotonic() < deadline:
            # A person types each code once; a wrong one (replaced meanwhile) waits for the next email.
            code = stack.outbox_reader.code_for(applicant_id, besides=tried)
            locked = False
            if code is not None:
                answer = client.post("/verifications/email", {"applicant_id": applicant_id, "code": code}, bearer)
                if answer.status_code == 200:
                    return None
                tried.add(code)
                locked = answer.status_code == 429
            if locked or time.monotonic() - asked > 30:
                client.post("/verifications/email/resend", {"applicant_id": applicant_id}, bearer)
                asked = time.monotonic()
            time.sleep(0.5)
    except (RuntimeError, TimeoutError) as failed:  # Client.post: a 5xx, or refused again and again
        return f"{type(failed).__name__}: {str(failed).split(':')[0]}"
    return f"{'codes came, none verified' if tried else 'no code came'} within {seconds:.0f} s"


def _wait_decided(stack: EmbeddedStack, verifiers: set[str], timeout_seconds: float = 1200) -> None:
    deadline = time.monotonic() + timeout_seconds
    with tqdm(total=len(verifiers), desc="NIK checked") as bar:
        while True:
            rows = stack.applicants(DECIDED_AT)
            decided = sum(1 for row in rows if row["applicant_id"] in verifiers and DECIDED_AT in row)
            bar.update(decided - bar.n)
            if decided >= len(verifiers) or time.monotonic() > deadline:
                return
            time.sleep(2.0)


def _wave_mid_run(client: Client, stack: EmbeddedStack, verified: list[dict[str, Any]]) -> str:
    """Joins whoever is eligible so far, closes and publishes wave 1 on the scheduler's clock, verifies the draw."""
    ids = {a["applicant_id"] for a in verified}
    _wait_decided(stack, ids)
    eligible = {
        row["applicant_id"]
        for row in stack.applicants("status")
        if row["applicant_id"] in ids and row["status"] == Status.ELIGIBLE.value
    }
    for applicant in verified:
        if applicant["applicant_id"] in eligible:
            bearer = {"Authorization": f"Bearer {applicant['access_token']}"}
            client.post("/waves/1/applicants", {"applicant_id": applicant["applicant_id"]}, bearer)
    wave = requests.get(f"{stack.api_url}/waves/current", timeout=30).json()
    stack.close_wave(dt.datetime.fromisoformat(wave["closes_at"]))
    stack.advance_clock(dt.datetime.fromisoformat(wave["publish_at"]))
    deadline = time.monotonic() + 600
    while (answer := requests.get(f"{stack.api_url}/waves/1/results", timeout=30)).status_code != 200:
        if time.monotonic() > deadline:
            return "NOT PUBLISHED"
        stack.advance_clock(stack.clock() + dt.timedelta(hours=1))  # the hourly tick re-queues what is not done
        time.sleep(2.0)
    results = answer.json()
    folder = stack.workdir / "wave-1"
    folder.mkdir(exist_ok=True)
    (folder / "manifest.json").write_bytes(requests.get(results["manifest_url"], timeout=60).content)
    (folder / "ranked-list.csv").write_bytes(requests.get(results["ranked_list_url"], timeout=60).content)
    try:
        checked = verify(json.loads((folder / "manifest.json").read_text()), folder / "ranked-list.csv")
    except Disagreement as disagreement:
        return f"DISAGREE: {disagreement}"
    return f"OK: {checked} in the pool, {results['selected_count']} selected"


def settle(stack: EmbeddedStack, queues: Sequence[str], timeout_seconds: float) -> Settled:
    """Lets the queues drain, then redrives whatever reached a dead-letter queue (the documented command). Queues
    still busy at the deadline are reported (and the run is not clean), not an exception that hides the rest."""
    settled = Settled()
    for _ in range(2):
        try:
            stack.wait_for_empty_queues(list(queues), timeout_seconds=timeout_seconds)
        except TimeoutError as busy:
            settled.left_in_queues = str(busy)
            return settled
        dead = {q: sum(stack.queue_depth(f"{q}-dlq").values()) for q in queues}
        if not settled.dead_letters:
            settled.dead_letters = dead
        if not any(dead.values()):
            break
        sqs = stack.client("sqs")
        settled.redriven += sum(redrive(sqs, q) for q, n in dead.items() if n)
    settled.dead_letters_after = {q: sum(stack.queue_depth(f"{q}-dlq").values()) for q in queues}
    return settled


def _check(
    stack: EmbeddedStack, plan: list[Planned], accepted: list[dict[str, Any]], verified: set[str], result: FaultResult
) -> None:
    stored = stack.applicants("status", DECIDED_AT)
    per_id = Counter(item["applicant_id"] for item in stored)
    accepted_ids = [a["applicant_id"] for a in accepted]
    result.accepted = len(set(accepted_ids))
    result.stored = len(stored)
    result.lost = sum(1 for a in set(accepted_ids) if per_id[a] == 0)
    result.duplicated = sum(n - 1 for n in per_id.values() if n > 1) + sum(
        1 for a in per_id if a not in set(accepted_ids)
    )
    rows = {row["applicant_id"]: row for row in stored}
    result.states = Counter(rows.get(a, {}).get("status", "MISSING") for a in accepted_ids)
    result.undecided = sum(
        1
        for planned, applicant in zip(plan, accepted, strict=True)
        if not _final(planned, applicant["applicant_id"] in verified, rows.get(applicant["applicant_id"], {}))
    )


def _final(planned: Planned, verified: bool, row: dict[str, Any]) -> bool:
    """Those who verified their email have a NIK result (or went on to a wave); those who never meant to wait,
    registered; those who meant to and could not (counted apart) either (an answer lost on the way)."""
    decided = DECIDED_AT in row
    registered = row.get("status") == Status.REGISTERED.value
    if verified:
        return decided
    return (registered or decided) if planned.verifies_email else registered
