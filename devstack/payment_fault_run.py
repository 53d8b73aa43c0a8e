"""The fault-injection run on the payment path: members who completed and reviewed a training link payout accounts
and are paid their four incentives while the local stack misbehaves:

- every SQS message is delivered at least twice, some out of order, and 15% of DynamoDB calls are throttled
  (devstack.faults, switched on for this part only);
- the payment path's consumers are killed (SIGKILL) at random moments, mid-batch, and restarted (fault_run.Chaos);
- the payment provider times out after taking a transfer (the first incentive's morning), is slow through the
  second's and down from the third's morning to that night (devstack.incentive_months);
- one member in five changes its payout account while the second incentive's run screens and pays it (before its
  payment is queued, or refused while it is in flight and changed after).

The members get there as the main job's do (devstack.programme_week), without faults: a population registers,
verifies, is checked and drawn, with a wave quota that accepts everyone the family-card cap lets through, and the
members buy, complete and review trainings. The population is sized so that at least `count` members earn
incentives; the first `count` of them (in the population's order) link accounts and are paid, through the main
job's four months on the scheduler's clock, 09:00 WIB incentive runs and 23:30 WIB reconciliations.

At the end, once the queues have drained and the dead letters are redriven, each member and incentive number is
checked against the payments table, the ledger and the provider's statement: paid exactly once where the rules owe
it (one transfer = one PAID payment = one INCENTIVE ledger entry, each Rp600,000), HELD with a reason where the
member became barred, nothing in a non-final state, nothing paid that is not owed; and every day's reconciliation
found no difference; and every transfer went to an account the provider verified for that member, the changers'
later incentives to their new account. `python -m devstack payment-faults [--count 1000]`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devstack import faults
from devstack.after_acceptance import PARTNERS, Market, Member
from devstack.fault_run import Chaos, Settled, fault_settings, settle, took
from devstack.incentive_months import (
    CHANGE_INCENTIVE,
    CHANGED_ATTEMPT,
    SLOW_INCENTIVE,
    IncentiveResult,
    Months,
    account_number,
)
from devstack.poller import sqs_event_sources
from devstack.population import Planned, plan_member, plan_population
from devstack.programme_week import Week, stack_settings
from devstack.stack import EmbeddedStack
from functions.adapters.payment_provider import STATEMENT_PATH
from functions.domain import rules
from functions.domain.incentives import PaymentStatus, payment_id
from functions.domain.lifecycle import Status
from functions.domain.membership import LedgerKind, incentive_ref
from functions.resources import INCENTIVES_QUEUE, NOTIFICATIONS_QUEUE, PAYMENTS_QUEUE, PAYOUT_CHECKS_QUEUE
from functions.store.models import RECONCILIATION_PREFIX

PAYMENT_PATH_QUEUES = (PAYOUT_CHECKS_QUEUE, INCENTIVES_QUEUE, PAYMENTS_QUEUE, NOTIFICATIONS_QUEUE)
# The provider's latency through the slow morning: well under the client's timeout, so that it is only slow.
SLOW_MS = 400
# Members who earn, of the population planned, are counted before the draw; the family-card cap (two a card) may
# leave a few out, so the population is planned with this much to spare.
SPARE = 1.15
# What a run set going (a morning's payments at this size, under faults) may take, per member.
IDLE_SECONDS_PER_MEMBER = 1.2
CHANGER_EVERY = 5  # one member in five (of those not barred) changes its account during a run
PAID_ONCE = "paid once"
HELD_WITH_A_REASON = "held with a reason"
NOT_FINAL = (PaymentStatus.QUEUED.value, PaymentStatus.SENT.value, PaymentStatus.FAILED.value)


@dataclass
class PaymentFaultResult:
    count: int
    people: int = 0  # the population planned to reach `count` earners
    members: int = 0  # those paid on the way: earners who linked accounts
    barred: int = 0  # of them, barred after the first incentive
    changers: int = 0  # of them, changing accounts during CHANGE_INCENTIVE's run
    owed: Counter[str] = field(default_factory=Counter)  # what the rules owe, by outcome (PAID, HELD)
    cells: Counter[str] = field(default_factory=Counter)  # each member x incentive number, by verdict
    unexpected: int = 0  # payments, transfers or ledger entries for what the rules do not owe
    incentives: IncentiveResult = field(default_factory=IncentiveResult)
    kills: int = 0
    throttles: int = 0
    settled: Settled = field(default_factory=Settled)
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return (
            self.members == self.count
            and self.cells[PAID_ONCE] == self.owed[PaymentStatus.PAID.value]
            and self.cells[HELD_WITH_A_REASON] == self.owed[PaymentStatus.HELD.value]
            and sum(self.cells.values()) == self.cells[PAID_ONCE] + self.cells[HELD_WITH_A_REASON]
            and self.unexpected == 0
            and self.incentives.matches
            and self.settled.clean
        )

    def report(self) -> str:
        wrong = {verdict: n for verdict, n in self.cells.items() if verdict not in (PAID_ONCE, HELD_WITH_A_REASON)}
        incentives = self.incentives
        reconciled = "none ran" if incentives.differences is None else f"{len(incentives.differences)} differences"
        lines = [
            f"members paid                {self.members:,} of {self.count:,} asked ({self.people:,} registered; "
            f"{self.barred} barred after the first incentive)",
            f"incentives owed             {self.owed[PaymentStatus.PAID.value]:,} to pay, "
            f"{self.owed[PaymentStatus.HELD.value]:,} to hold",
            f"paid exactly once           {self.cells[PAID_ONCE]:,} (provider statement = PAID payment = INCENTIVE"
            f" ledger entry, Rp{rules.INCENTIVE_AMOUNT:,} each)",
            f"held with a reason          {self.cells[HELD_WITH_A_REASON]:,}",
            f"accounts changed in a run   {self.changers:,} (incentive {CHANGE_INCENTIVE}): "
            f"{incentives.changed_while_screened:,} before their payment was queued, "
            f"{incentives.changed_after_payment:,} refused while it was in flight and changed after; every "
            "transfer checked against the accounts the provider verified",
            f"lost, twice, stranded, ...  {wrong or 'none'}",
            f"paid and not owed           {self.unexpected}",
            f"amounts                     ledger Rp{incentives.paid_amount:,}, provider Rp"
            f"{incentives.provider_paid_amount:,}, reconciled Rp{incentives.reconciled_amount:,}, owed Rp"
            f"{incentives.owed_amount:,}",
            f"reconciliation              up to {incentives.reconciled_day}: {reconciled}",
            f"payment provider            timed out after commit {incentives.timed_out_after_commit}x (incentive 1),"
            f" slow {SLOW_MS} ms (incentive {SLOW_INCENTIVE}), down (incentive 3)",
            f"consumer processes killed   {self.kills}",
            f"DynamoDB calls throttled    {self.throttles:,}",
            *self.settled.lines(),
            took(self.seconds, self.stages),
        ]
        return "\n".join("  " + line for line in lines)


def population_for(count: int, seed: int) -> list[Planned]:
    """The smallest population (in steps of a tenth) whose plans give `count` members who earn incentives, with
    SPARE for the family-card cap."""
    people = count
    while True:
        plan = plan_population(people, seed)
        if len(earning(plan, seed)) >= count * SPARE:
            return plan
        people += max(10, people // 10)


def earning(plan: list[Planned], seed: int) -> list[int]:
    """The places of those who would earn incentives if accepted: eligible, and reviewing a completed training."""
    return [
        index
        for index, planned in enumerate(plan)
        if planned.expected_status == Status.ELIGIBLE.value
        and plan_member(seed, index, rules.TRAINING_BALANCE, len(PARTNERS)).earns_incentives
    ]


def run(count: int, workdir: Path, seed: int = 2021, throttle: float = 0.15, workers: int = 16) -> PaymentFaultResult:
    started = time.monotonic()
    plan = population_for(count, seed)
    result = PaymentFaultResult(count=count, people=len(plan))
    switch = workdir.resolve() / "faults-on"
    switch.unlink(missing_ok=True)
    # Everyone selectable is accepted in the first wave.
    settings = {**stack_settings(quota=len(plan)), **fault_settings(throttle), faults.SWITCH: str(switch)}
    with EmbeddedStack(workdir, gateway_workers=4, settings=settings, uncapped_pollers=3) as stack:
        week = Week(stack, plan, len(plan), workers, seed)
        week.first_wave()
        market = Market(stack, week.http, week.outbox, week.tokens)
        with week.stage("members buy, complete and review trainings"):
            market.sign_up_partners()
            week.welcome_new_members(market)
        members = [m for m in week.members if m.plan.earns_incentives][:count]
        result.members = len(members)
        changers = [m for m in members if not m.plan.becomes_barred][::CHANGER_EVERY]
        result.changers = len(changers)
        switch.touch()
        idle_seconds = max(600.0, IDLE_SECONDS_PER_MEMBER * count)
        payment_path = [source.name for source in sqs_event_sources() if source.queue in PAYMENT_PATH_QUEUES]
        with Chaos(stack, seed, pollers=payment_path) as chaos:
            months = Months(week, market, members, idle_seconds=idle_seconds, slow_ms=SLOW_MS, changers=changers)
            result.incentives = months.run()
        result.kills = chaos.kills
        with week.stage("draining and redriving"):
            result.settled = settle(stack, PAYMENT_PATH_QUEUES, timeout_seconds=idle_seconds)
        _check(stack, members, {m.index for m in changers}, result)
        result.throttles = faults.throttles_logged(stack.log_dir)
    result.stages = week.result.stage_seconds
    result.seconds = time.monotonic() - started
    print(result.report())
    return result


def owed(member: Member) -> dict[int, str]:
    """What the rules owe the member, by incentive number: all four paid, or the first paid and the second held
    where the member became barred after the first."""
    if member.plan.becomes_barred:
        return {1: PaymentStatus.PAID.value, 2: PaymentStatus.HELD.value}
    return dict.fromkeys(range(1, rules.INCENTIVE_COUNT + 1), PaymentStatus.PAID.value)


def _check(stack: EmbeddedStack, members: list[Member], changers: set[int], result: PaymentFaultResult) -> None:
    """Each member x incentive number, against the payments table, the ledger and the provider's statement, and
    the account each transfer went to."""
    payments = {
        row["payment_id"]: row
        for row in stack.rows("PRAKERJA_PAYMENTS_TABLE", "payment_id", "status", "amount", "reason")
        if not row["payment_id"].startswith(RECONCILIATION_PREFIX)
    }
    entries = {
        (row["applicant_id"], row["ref"]): int(row["amount"])
        for row in stack.rows("PRAKERJA_LEDGER_TABLE", "applicant_id", "ref", "kind", "amount")
        if row["kind"] == LedgerKind.INCENTIVE.value
    }
    transfers: dict[str, list[tuple[int, str]]] = {}
    for line in statement(stack):
        transfers.setdefault(line["idempotency_key"], []).append((int(line["amount"]), line["account_number"]))
    result.barred = sum(1 for m in members if m.plan.becomes_barred)
    for member in members:
        wanted = owed(member)
        result.owed.update(wanted.values())
        for number in range(1, rules.INCENTIVE_COUNT + 1):
            key = payment_id(member.applicant_id, number)
            sent = transfers.pop(key, [])
            found = (
                payments.pop(key, None),
                [amount for amount, _ in sent],
                entries.pop((member.applicant_id, incentive_ref(number)), None),
            )
            said = verdict(wanted.get(number), *found)
            if said == PAID_ONCE:
                said = paid_into(member, number, sent[0][1], member.index in changers)
            if said:  # nothing to say where nothing is owed or there
                result.cells[said] += 1
    result.unexpected = len(payments) + len(transfers) + len(entries)


def verdict(want: str | None, payment: dict[str, Any] | None, sent: list[int], entry: int | None) -> str:
    """What became of one incentive the rules owe as `want` (PAID, HELD or nothing): our payment, the provider's
    transfers for its key and our ledger entry, in a word."""
    status = payment["status"] if payment else None
    if len(sent) > 1:
        return "paid twice"
    if status in NOT_FINAL:
        return f"stranded {status}"
    if want is None:
        return "not owed, paid" if payment or sent or entry is not None else ""
    if status is None:
        return "lost"
    if status != want:
        return f"{status} where {want} is owed"
    if want == PaymentStatus.HELD.value:
        return HELD_WITH_A_REASON if payment and payment.get("reason") and not sent and entry is None else "held badly"
    amounts = {int(payment["amount"]) if payment else 0, *sent, entry}
    return PAID_ONCE if sent and amounts == {rules.INCENTIVE_AMOUNT} else "statement, payments and ledger disagree"


def paid_into(member: Member, number: int, account: str, changer: bool) -> str:
    """PAID_ONCE when the transfer went to an account the provider verified for the member (its first good one,
    and the one it changed to), and a changer's incentives after the change to the new one."""
    first = account_number(member, 1 if member.plan.first_account_refused else 0)
    changed = account_number(member, CHANGED_ATTEMPT)
    if account not in ({first, changed} if changer else {first}):
        return "paid into an account not verified for the member"
    if changer and number > CHANGE_INCENTIVE and account != changed:
        return "paid into the account the member had changed from"
    return PAID_ONCE


def statement(stack: EmbeddedStack) -> list[dict[str, Any]]:
    """Every transfer the local provider made, from its statement (the provider's own record, page by page)."""
    lines: list[dict[str, Any]] = []
    offset: int | None = 0
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC).isoformat()
    while offset is not None:
        query: dict[str, str | int] = {"since": since, "offset": offset}
        page = requests.get(f"{stack.payment_provider_url}{STATEMENT_PATH}", params=query, timeout=60).json()
        lines += page["lines"]
        offset = page["next_offset"]
    return lines
