"""The main job: one programme week, end to end, on the embedded local stack, through the real HTTP API, queues
and schedules. A synthetic population registers (with typos and second tries, as real traffic has), most verify
their email from the outbox, the civil registry checks their NIKs, the eligible join the wave, the scheduler's
clock moves to Thursday 16:00 WIB (close and draw) and Friday 10:00 WIB (publication), and the published draw is
verified from its public files. Then the programme's month: training partners sell trainings to the members over
the signed partner API (devstack.after_acceptance), the clock moves week by week to the first members' deadline
(carried-over applicants are drawn in the weeks between), the 00:05 WIB schedule revokes those who bought nothing,
an admin revokes one member, and the next wave's draw takes the places freed. Then four months of incentives
(devstack.incentive_months): payout accounts linked, incentives paid and reconciled, members held, the provider
timing out and down on the way. It prints the funnel as the ministry reported it, with what the population implies
beside each stage, the ledger identity and the incentives paid against what the rules owe, and writes a report.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from devstack import costs, crowd
from devstack.after_acceptance import (
    LEDGER_KINDS,
    PARTNERS,
    Market,
    Member,
    Tokens,
    expect,
    expected_after_acceptance,
    expected_ledger,
    ledger_totals,
)
from devstack.code_latency import CodeLatency
from devstack.incentive_months import IncentiveResult, Months, expected_incentive_stages, next_run
from devstack.population import Planned, plan_member, plan_population
from devstack.registry import write_csv
from devstack.stack import EmbeddedStack
from functions.domain.lifecycle import FunnelStage, Status
from functions.domain.rules import REVOCATION_TIME
from functions.verify_draw import Disagreement, verify

Item = TypeVar("Item")
WIB = dt.timezone(dt.timedelta(hours=7))


@dataclass
class WeekResult:
    people: int
    quota: int
    funnel: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    draw_verified: str = ""
    lost: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    code_latency: CodeLatency = field(default_factory=CodeLatency)
    stage_costs: dict[str, costs.Snapshot] = field(default_factory=dict)
    cost: str = ""
    later_draws: dict[int, str] = field(default_factory=dict)  # each later wave's verifier verdict
    refill: dict[str, int] = field(default_factory=dict)  # the refilled wave's manifest: base_quota, refill, quota
    expected_refill: int = 0
    admin_revoked: str = ""  # the card an admin revoked (a synthetic member's)
    ledger: dict[str, Any] = field(default_factory=dict)  # GET /admin/ledger
    expected_ledger: dict[str, int] = field(default_factory=dict)
    incentives: IncentiveResult = field(default_factory=IncentiveResult)

    @property
    def ledger_totals(self) -> dict[str, int]:
        """The ledger's total of each kind of entry, as `GET /admin/ledger` gives them."""
        return ledger_totals(self.ledger)

    @property
    def ledger_holds(self) -> bool:
        return self.ledger.get("identity", {}).get("holds") is True and self.ledger_totals == self.expected_ledger

    @property
    def matches(self) -> bool:
        return (
            self.funnel == self.expected
            and self.lost == 0
            and all(verdict.startswith("OK") for verdict in (self.draw_verified, *self.later_draws.values()))
            and self.refill.get("refill") == self.expected_refill
            and self.refill.get("quota") == self.refill.get("base_quota", 0) + self.expected_refill
            and self.ledger_holds
            and self.incentives.matches
        )


# The stages whose AWS work is the programme's (the intake, verification, NIK check, join, close, publish).
COST_STAGES = (
    "registration",
    "email verification",
    "NIK checks and eligibility",
    "joining wave 1",
    "Thursday 16:00 WIB: close and draw",
    "Friday 10:00 WIB: publication",
)
# The main job's own polls through the API (the funnel, the wave, the results), not an applicant's requests.
TOOLING_REQUESTS = ("GET /admin/stats", "GET /waves/current", "GET /waves/{}/results")


class Week:
    def __init__(
        self,
        stack: EmbeddedStack,
        plan: list[Planned],
        quota: int,
        workers: int,
        seed: int,
        *,
        calls: Path | None = None,
    ) -> None:
        self.stack = stack
        self.calls = calls
        self.plan = plan
        self.seed = seed
        self.quota = quota
        self.workers = workers
        # A 429 (busy) is asked again after its Retry-After, as the app does; a connection for each worker.
        self.http = crowd.app_session(pool_maxsize=workers * 2)
        self.accepted: dict[int, dict[str, Any]] = {}  # plan index -> 202 answer
        self.result = WeekResult(people=len(plan), quota=quota)
        self.outbox = stack.outbox_reader
        self.tokens = Tokens(stack, self.http, self.outbox)
        self.admin_token = stack.admin_token("main-job@local", hours=4)
        self.members: list[Member] = []
        self.waves_published = 0
        self.admin_revoked: Member | None = None
        self.swept: list[Member] = []  # revoked by the day-30 sweep

    # --- helpers -------------------------------------------------------------------------------------------
    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        before = self.metered()
        yield
        self.result.stage_seconds[name] = time.monotonic() - started
        self.result.stage_costs[name] = self.metered().minus(before)

    def metered(self) -> costs.Snapshot:
        """The app's AWS calls, invocations and messages so far (for the cost per registration)."""
        return costs.Snapshot.take(self.stack.metered(), self.stack.invocations(), self.stack.outbox())

    def each(self, label: str, items: Sequence[Item], work: Callable[[Item], Any]) -> list[Any]:
        return crowd.each(label, items, work, self.workers)

    def wait(self, label: str, done: Callable[[], int], total: int, timeout_seconds: float = 1800) -> None:
        deadline = time.monotonic() + timeout_seconds
        with tqdm(total=total, desc=label, unit="") as bar:
            while (count := done()) < total:
                bar.update(count - bar.n)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{label}: {count} of {total} after {timeout_seconds:.0f}s")
                time.sleep(0.5)
            bar.update(total - bar.n)

    def url(self, path: str) -> str:
        return f"{self.stack.api_url}{path}"

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def status_of(self, index: int) -> dict[str, Any]:
        applicant_id = self.accepted[index]["applicant_id"]
        seen = expect("status", self.tokens.request(applicant_id, "GET", f"/applicants/{applicant_id}"), 200)
        return seen

    def status_page(self, answer: dict[str, Any]) -> dict[str, Any]:
        """What the registration answered by `answer` sees on its status page."""
        seen: dict[str, Any] = self.http.get(
            self.url(f"/applicants/{answer['applicant_id']}"),
            headers={"Authorization": f"Bearer {answer['access_token']}"},
            timeout=30,
        ).json()
        return seen

    # --- the week ------------------------------------------------------------------------------------------
    def run(self) -> WeekResult:
        market = self.after_acceptance(self.first_wave())
        earners = [m for m in self.members if m.plan.earns_incentives and m is not self.admin_revoked]
        self.result.incentives = Months(self, market, earners).run()
        self.result.funnel = {stage: count for stage, count in self.funnel().items()}
        self.result.expected = {
            **self.expected_funnel(),
            **self.expected_after_acceptance(),
            **expected_incentive_stages(earners),
        }
        self.result.ledger = expect(
            "GET /admin/ledger", self.http.get(self.url("/admin/ledger"), headers=self.admin(), timeout=60), 200
        )
        self.result.lost = self.lost()
        self.result.code_latency = self.stack.code_latency()
        priced = {name: snapshot for name, snapshot in self.result.stage_costs.items() if name in COST_STAGES}
        self.result.cost = costs.report(priced, self.result.funnel.get("registered", 0), exclude=TOOLING_REQUESTS)
        return self.result

    def first_wave(self) -> int:
        """The week up to the first wave's draw verified from its public files: the wave's number."""
        with self.stage("civil registry written"):
            write_csv(self.stack.registry_csv, [p.registry for p in self.plan if p.registry])
        with self.stage("registration"):
            self.each("registering", list(range(len(self.plan))), self.register)
            self.wait("stored", lambda: self.funnel()["registered"], len(self.accepted))
        with self.stage("email verification"):
            verifiers = [i for i, p in enumerate(self.plan) if p.verifies_email]
            self.each("verifying email", verifiers, self.verify_email)
        with self.stage("NIK checks and eligibility"):
            # Applicants learn their result by email, as in 2020: the outbox tells who may join.
            self.wait("NIK results in the outbox", lambda: len(self.nik_results()), len(verifiers))
            self.each("second tries", self.second_tries(), self.register_again)
        with self.stage("joining wave 1"):
            by_id = {self.accepted[i]["applicant_id"]: i for i in verifiers}
            eligible = [by_id[a] for a, status in self.nik_results().items() if status == Status.ELIGIBLE.value]
            self.each("joining", eligible, self.join)
        wave = self.http.get(self.url("/waves/current"), timeout=30).json()
        with self.stage("Thursday 16:00 WIB: close and draw"):
            self.stack.close_wave(dt.datetime.fromisoformat(wave["closes_at"]))
        with self.stage("Friday 10:00 WIB: publication"):
            self.stack.advance_clock(dt.datetime.fromisoformat(wave["publish_at"]))
            self.published(wave["number"])
        with self.stage("draw verified from the public files"):
            self.result.manifest, self.result.draw_verified = self.verify_draw(wave["number"])
        if self.calls:  # the priced stages are done: kept now, a later stage's failure does not lose them
            write_calls(self.calls, self.result.stage_costs, self.funnel())
        number: int = wave["number"]
        return number

    def published(self, wave: int) -> None:
        """Until the wave's results are up and everything publication set going (notices) is done."""
        self.wait(f"wave {wave} published", lambda: int(self.results(wave) is not None), 1)
        # The notices go out after the results are up; the stage's cost counts them all.
        self.stack.wait_until_idle()
        self.waves_published += 1

    # --- after acceptance --------------------------------------------------------------------------------------
    def after_acceptance(self, first_wave: int) -> Market:
        market = Market(self.stack, self.http, self.outbox, self.tokens)
        with self.stage("training partners signed up"):
            market.sign_up_partners()
        with self.stage(f"wave {first_wave} members buy, complete and review trainings"):
            self.welcome_new_members(market)
        deadline = max(m.first_purchase_deadline for m in self.members if m.wave == first_wave)
        # Just past the first 00:05 WIB run after the deadline: its revocations are done before any later firing
        # closes the wave they refill.
        sweep_at = next_run(deadline, dt.time.fromisoformat(REVOCATION_TIME)) + dt.timedelta(minutes=1)
        with self.stage("the weeks to the first deadline: carried-over applicants drawn"):
            while (wave := self.current_wave())["publish_at"] <= sweep_at:
                self.later_wave(wave, market)
        with self.stage("day 30: the 00:05 WIB revocation"):
            self.stack.advance_clock(sweep_at)
            self.stack.wait_until_idle()
        with self.stage("an admin revokes one member"):
            revoked = self.revoke_for_fraud(first_wave)
        with self.stage("the refilled wave's draw"):
            refilled = self.later_wave(self.current_wave(), market)
        self.result.refill = {key: int(refilled.get(key, 0)) for key in ("wave", "base_quota", "refill", "quota")}
        # Every member whose deadline the sweep passed (acceptance stamps it when the publication's consumers run,
        # so the later waves' members of this run are among them) and who holds no training then.
        self.swept = [m for m in self.members if m.first_purchase_deadline < sweep_at and not m.plan.keeps_a_training]
        self.result.expected_refill = len(self.swept) + 1
        self.result.expected_ledger = expected_ledger(self.members, [*self.swept, revoked])
        self.admin_revoked = revoked
        return market

    def current_wave(self) -> dict[str, Any]:
        wave: dict[str, Any] = self.http.get(self.url("/waves/current"), timeout=30).json()
        wave["publish_at"] = dt.datetime.fromisoformat(wave["publish_at"])
        return wave

    def later_wave(self, wave: dict[str, Any], market: Market) -> dict[str, Any]:
        """A wave after the first: closed and drawn, published, its draw verified, its members served; its manifest."""
        # Drawn before Friday's publication fires: on a busy machine a draw still running then would wait for a
        # catch-up firing that a stopped clock never brings.
        self.stack.close_wave(dt.datetime.fromisoformat(wave["closes_at"]))
        self.stack.advance_clock(wave["publish_at"])
        self.published(wave["number"])
        manifest, verdict = self.verify_draw(wave["number"])
        self.result.later_draws[wave["number"]] = verdict
        self.welcome_new_members(market)
        return manifest

    def welcome_new_members(self, market: Market) -> None:
        """Those told of their acceptance since the last call read their card on the status page, and do with it
        what their plans say."""
        by_applicant = {answer["applicant_id"]: index for index, answer in self.accepted.items()}
        known = {m.applicant_id for m in self.members}
        told = sorted({m["applicant_id"] for m in self.outbox.messages("acceptance")} - known)
        members: list[Member] = self.each("members read their cards", [by_applicant[a] for a in told], self.member)
        self.members.extend(members)
        market.list_courses(members)
        self.each("trainings bought", members, market.buy)
        # The partners report completions once the longest of the courses' minimum hours has passed on the
        # programme's clock (the schedules due on the way fire).
        hours = max((t.minimum_hours for m in members for t in m.plan.trainings if t.completed), default=0)
        if hours:
            self.stack.advance_clock(self.stack.programme_now() + dt.timedelta(hours=hours, minutes=1))
        self.each("trainings completed and reviewed", members, market.finish)

    def member(self, index: int) -> Member:
        seen = self.status_of(index)
        membership = seen["membership"]
        return Member(
            index=index,
            applicant_id=seen["applicant_id"],
            card_number=seen["card_number"],
            wave=int(seen["wave"]),
            balance=int(membership["balance"]),
            first_purchase_deadline=dt.datetime.fromisoformat(membership["first_purchase_deadline"]),
            plan=plan_member(self.seed, index, int(membership["balance"]), len(PARTNERS)),
        )

    def revoke_for_fraud(self, wave: int) -> Member:
        """An admin revokes the first member of `wave` (in the population's order) who kept a training."""
        target = min((m for m in self.members if m.wave == wave and m.plan.keeps_a_training), key=lambda m: m.index)
        answer = self.http.post(
            self.url(f"/admin/memberships/{target.card_number}/revoke"),
            json={"reason": "kartu dijual kepada pihak lain (synthetic case)"},
            headers=self.admin(),
            timeout=60,
        )
        expect("admin revocation", answer, 200)
        self.result.admin_revoked = target.card_number
        return target

    def expected_after_acceptance(self) -> dict[str, int]:
        return expected_after_acceptance(self.members, self.swept, self.admin_revoked)

    def register(self, index: int) -> None:
        planned = self.plan[index]
        body = planned.person.registration()
        if planned.typo_first:
            broken = self.http.post(self.url("/registrations"), json={**body, "phone": "021-555-1234"}, timeout=60)
            self.result.refused[f"{broken.status_code} {broken.json()['error']['code']}"] += 1
        answer = self.http.post(self.url("/registrations"), json=body, timeout=60)
        if answer.status_code != 202:
            raise RuntimeError(f"registration refused: {answer.status_code} {answer.text}")
        self.accepted[index] = answer.json()
        self.tokens.keep(self.accepted[index]["applicant_id"], self.accepted[index]["access_token"], body["email"])

    def second_tries(self) -> list[int]:
        """Those whose plans register again once the registry confirmed them."""
        confirmed = {Status.ELIGIBLE.value, Status.INELIGIBLE.value}
        return [i for i, p in enumerate(self.plan) if p.submits_twice and p.expected_status in confirmed]

    def register_again(self, index: int) -> None:
        """The same person registers again: answered like anyone (registration reveals nobody), it enters the code
        its mailbox already has and ends REJECTED, its reason counted from its own status page."""
        answer = self.http.post(self.url("/registrations"), json=self.plan[index].person.registration(), timeout=60)
        if answer.status_code != 202:
            raise RuntimeError(f"registration refused: {answer.status_code} {answer.text}")
        again = answer.json()
        deadline = time.monotonic() + 600
        while self.status_page(again)["status"] == Status.PENDING.value:  # until the intake consumer stored it
            if time.monotonic() > deadline:
                raise TimeoutError(f"registration {again['applicant_id']} not stored")
            time.sleep(0.5)
        # A registration naming a mailbox that has an unexpired code is given that code: the first one's.
        code = self.outbox.wait_for_code(self.accepted[index]["applicant_id"])
        verified = self.http.post(
            self.url("/verifications/email"),
            json={"applicant_id": again["applicant_id"], "code": code},
            headers={"Authorization": f"Bearer {again['access_token']}"},
            timeout=60,
        )
        if verified.status_code != 200:
            raise RuntimeError(f"email verification refused: {verified.status_code} {verified.text}")
        seen = self.status_page(again)
        self.result.refused[f"{seen['status']} {seen['reason']}"] += 1

    def verify_email(self, index: int) -> None:
        accepted = self.accepted[index]
        applicant_id = accepted["applicant_id"]
        code = self.outbox.wait_for_code(applicant_id)
        # A 429 (the NIK-check queue did not take the check) asks for the same code again shortly: the session does.
        answer = self.http.post(
            self.url("/verifications/email"),
            json={"applicant_id": applicant_id, "code": code},
            headers={"Authorization": f"Bearer {accepted['access_token']}"},
            timeout=60,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"email verification refused: {answer.status_code} {answer.text}")

    def nik_results(self) -> dict[str, str]:
        """The NIK results the outbox holds so far, by applicant."""
        self.outbox.read()
        return dict(self.outbox.nik_results)

    def join(self, index: int) -> None:
        answer = self.accepted[index]
        joined = self.http.post(
            self.url("/waves/1/applicants"),
            json={"applicant_id": answer["applicant_id"]},
            headers={"Authorization": f"Bearer {answer['access_token']}"},
            timeout=60,
        )
        if joined.status_code != 201:
            raise RuntimeError(f"join refused: {joined.status_code} {joined.text}")

    def lost(self) -> int:
        """Registrations answered 202 but not stored exactly once, read from the applicants table itself."""
        stored = Counter(row["applicant_id"] for row in self.stack.applicants())
        answered = [answer["applicant_id"] for answer in self.accepted.values()]
        return sum(1 for applicant_id in answered if stored[applicant_id] != 1)

    def results(self, wave: int) -> dict[str, Any] | None:
        answer = self.http.get(self.url(f"/waves/{wave}/results"), timeout=30)
        return answer.json() if answer.status_code == 200 else None

    def verify_draw(self, wave: int) -> tuple[dict[str, Any], str]:
        """The wave's published manifest, and what the verifier says of its draw, from the public files alone."""
        results = self.results(wave)
        assert results is not None
        folder = self.stack.workdir / f"wave-{wave}"
        folder.mkdir(exist_ok=True)
        (folder / "manifest.json").write_bytes(self.http.get(results["manifest_url"], timeout=60).content)
        (folder / "ranked-list.csv").write_bytes(self.http.get(results["ranked_list_url"], timeout=300).content)
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
        try:
            checked = verify(manifest, folder / "ranked-list.csv")
        except Disagreement as disagreement:
            return manifest, f"DISAGREE: {disagreement}"
        return manifest, f"OK: {checked} applicants recomputed, {manifest['selected_count']} selected"

    def funnel(self) -> dict[str, int]:
        answer = self.http.get(self.url("/admin/stats"), headers=self.admin(), timeout=30)
        return {row["stage"]: int(row["count"]) for row in answer.json()["funnel"]}

    def expected_funnel(self) -> dict[str, int]:
        """What the synthetic population implies, stage by stage, up to acceptance. Each wave drawn takes its quota
        from those still selectable (the places the run's revocations freed added to the last wave's)."""
        plan = self.plan
        verified = [p for p in plan if p.verifies_email]
        nik_ok = [p for p in verified if p.expected_status != Status.NIK_REJECTED.value]
        eligible = [p for p in verified if p.expected_status == Status.ELIGIBLE.value]
        per_family = Counter(p.registry["kk_number"] for p in eligible if p.registry)
        selectable = sum(min(2, n) for n in per_family.values())  # the KK cap: at most two per family card
        return {
            FunnelStage.REGISTERED.value: len(plan) + len(self.second_tries()),
            FunnelStage.EMAIL_VERIFIED.value: len(verified),
            FunnelStage.NIK_VERIFIED.value: len(nik_ok),
            FunnelStage.ELIGIBLE.value: len(eligible),
            FunnelStage.JOINED.value: len(eligible),
            FunnelStage.ACCEPTED.value: min(
                self.quota * self.waves_published + self.result.expected_refill, selectable
            ),
        }


def print_summary(result: WeekResult) -> None:
    registered = result.funnel.get("registered", 0) or 1
    print()
    print(f"Funnel over four months ({result.people:,} synthetic applicants, wave quota {result.quota:,}):")
    print(f"  {'stage':<16}{'count':>8}{'% of registered':>18}{'expected':>10}")
    for stage, count in result.funnel.items():
        marker = "" if result.expected.get(stage) == count else "  <- differs"
        print(f"  {stage:<16}{count:>8,}{100 * count / registered:>17.1f}%{result.expected.get(stage, 0):>10,}{marker}")
    print(f"  refused along the way: {dict(result.refused)}")
    print(f"  lost registrations: {result.lost}")
    print(f"  email code, stored to sent: {result.code_latency.line()}")
    print()
    print("Time per stage:")
    for name, seconds in result.stage_seconds.items():
        print(f"  {name:<40}{seconds:>8.1f} s")
    print()
    manifest = result.manifest
    pool, selected = manifest.get("pool_size", 0), manifest.get("selected_count", 0)
    print(f"Wave {manifest.get('wave')} draw: pool {pool:,}, selected {selected:,}")
    print(f"  commitment {manifest.get('commitment')}")
    print(f"  seed       {manifest.get('seed')}")
    print(f"  verifier:  {result.draw_verified}")
    for wave, verdict in result.later_draws.items():
        print(f"Wave {wave} draw: {verdict}")
    print()
    print(refill_line(result))
    print(f"Revoked by an admin: the card ending {result.admin_revoked[-4:]}")
    print(ledger_line(result))
    print(result.incentives.line())
    if result.cost:
        print()
        print(result.cost)


def refill_line(result: WeekResult) -> str:
    refill = result.refill
    return (
        f"Places freed by revocations, wave {refill.get('wave')}: base_quota {refill.get('base_quota', 0):,} + refill "
        f"{refill.get('refill', 0):,} = quota {refill.get('quota', 0):,} (the population implies a refill of "
        f"{result.expected_refill:,})"
    )


def ledger_line(result: WeekResult) -> str:
    """The ledger identity as GET /admin/ledger states it, with the totals beside what the members' plans imply."""
    totals, expected = result.ledger_totals, result.expected_ledger
    g, p, r, t = (f"Rp{totals.get(kind, 0):,}" for kind in LEDGER_KINDS)
    balance = f"Rp{int(result.ledger.get('outstanding_balance', 0)):,}"
    verdict = "holds" if result.ledger.get("identity", {}).get("holds") is True else "DOES NOT HOLD"
    differs = [
        f"{kind} expected Rp{expected.get(kind, 0):,}"
        for kind in LEDGER_KINDS
        if totals.get(kind) != expected.get(kind)
    ]
    return (
        f"Ledger identity {verdict}: granted {g} = balance {balance} + purchased {p} - refunded {r} + returned {t}"
        + (f"\n  differs from the plans: {', '.join(differs)}" if differs else "\n  every total as the plans imply")
    )


def write_report(result: WeekResult, path: Path) -> Path:
    """An HTML page with the funnel drawn as bars, the stage times and the published manifest."""
    registered = result.funnel.get("registered", 0) or 1
    bar_height, width = 34, 640
    bars = []
    for row, (stage, count) in enumerate(result.funnel.items()):
        length = max(1, int(width * count / registered))
        y = row * (bar_height + 8)
        bars.append(
            f'<rect x="170" y="{y}" width="{length}" height="{bar_height}" fill="#1d6fb8"/>'
            f'<text x="160" y="{y + 22}" text-anchor="end">{html.escape(stage)}</text>'
            f'<text x="{180 + length}" y="{y + 22}">{count:,} ({100 * count / registered:.1f}%)</text>'
        )
    svg_height = len(result.funnel) * (bar_height + 8)
    stages = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.1f} s</td></tr>" for k, v in result.stage_seconds.items())
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Prakerja programme week</title>
<style>
body{{font-family:sans-serif;margin:2em;max-width:60em}} td{{padding:2px 12px}} svg text{{font-size:14px}}
</style>
</head><body><h1>One programme week on the local stack</h1>
<p>{result.people:,} synthetic applicants, wave quota {result.quota:,}. Lost registrations: {result.lost}.
Draw: {html.escape(result.draw_verified)}.
Email code, stored to sent: {html.escape(result.code_latency.line())}.</p>
<p>{html.escape(ledger_line(result))}.<br>{html.escape(refill_line(result))}.<br>
{html.escape(result.incentives.line())}.</p>
<h2>Funnel</h2><svg width="{width + 400}" height="{svg_height}" role="img" aria-label="funnel">{"".join(bars)}</svg>
<h2>Time per stage</h2><table>{stages}</table>
<h2>Cost</h2><pre>{html.escape(result.cost)}</pre>
<h2>Wave manifest</h2><pre>{html.escape(json.dumps(result.manifest, indent=2))}</pre>
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def write_calls(path: Path, stages: dict[str, costs.Snapshot], funnel: dict[str, int]) -> None:
    path.write_text(json.dumps(costs.as_json(stages, funnel), indent=1), encoding="utf-8")


def stack_settings(quota: int) -> dict[str, str]:
    """The main job's settings of the stack."""
    return {
        "PRAKERJA_WAVE_QUOTA": str(quota),
        "PRAKERJA_PUBLISH_CHUNK_SIZE": "250",
        # The circuit to the provider closes again within the local pollers' retries after the outage.
        "PRAKERJA_PAYMENT_PROVIDER_BREAKER_RESET_SECONDS": "3",
    }


def run(people: int, quota: int | None, seed: int, workdir: Path, workers: int = 24) -> WeekResult:
    plan = plan_population(people, seed)
    quota = quota or max(1, people // 5)
    settings = stack_settings(quota)
    calls = workdir.parent / "aws-calls.json"
    print(f"Starting the embedded local stack in {workdir} ...", flush=True)
    with EmbeddedStack(workdir, gateway_workers=4, settings=settings) as stack:
        print(f"API {stack.api_url}, AWS (moto) {stack.aws_endpoint}", flush=True)
        result = Week(stack, plan, quota, workers, seed, calls=calls).run()
    print_summary(result)
    report = write_report(result, workdir.parent / "report.html")
    write_calls(calls, result.stage_costs, result.funnel)
    print(f"\nReport: {report}\nAWS calls by stage, function and operation: {calls}")
    return result
