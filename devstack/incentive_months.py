"""The main job's four months after acceptance: members who completed and reviewed a training link payout accounts
(some refused for a name that does not match or an e-wallet without KYC, then fixed with a good one), the 09:00 WIB
incentive schedule pays them four times 30 days apart, a few members become barred in the civil registry after the
first and are HELD, the payment provider times out after taking a transfer once and is down for a stretch of days,
and the 23:30 WIB reconciliation compares its statement with our payments.

The scheduler's clock jumps from one run that matters to the next (a 09:00 run where an incentive falls due, the
23:30 run the day after it that reconciles it), firing nothing on the days between, and the provider's clock is set
with it so that its statement's days are the scheduler's. What each member does is its `MemberPlan`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

from devstack import payment_provider
from devstack.after_acceptance import Market, Member, expect
from devstack.registry import write_csv
from functions.domain import rules
from functions.domain.calendar import JAKARTA
from functions.domain.lifecycle import INCENTIVE_STAGES, FunnelStage
from functions.domain.payments import AccountRejection
from functions.resources import INCENTIVES_QUEUE, PAYMENTS_QUEUE
from functions.store.models import LATEST_RECONCILIATION, RECONCILIATION_PREFIX

if TYPE_CHECKING:
    from devstack.programme_week import Week

INCENTIVE_AT = dt.time(9, 0)
RECONCILIATION_AT = dt.time(23, 30)
# Longer than the payment client waits (5 s): the consumer gives up, and its next delivery asks the provider.
TIMEOUT_AFTER_COMMIT_MS = 8000
OUTAGE_INCENTIVE = 3  # the provider is down from the morning this incentive falls due to that night
SLOW_INCENTIVE = 2  # the provider slow through this incentive's morning, where a run asks for it (the fault run)
# Where a run asks for it (the fault run), some members change their payout account while this incentive's run
# screens and pays them: to their own new account, checked (`CHANGED_ATTEMPT`), which every later incentive is paid
# into. A change before the member's payment is queued fails that payment ACCOUNT_CHANGED until the new account is
# verified; one after it is refused while the payment is in flight, and made once it is paid.
CHANGE_INCENTIVE = SLOW_INCENTIVE
CHANGED_ATTEMPT = 2


# A code replaced by a newer one (a retried request) or already used is refused with one of these.
_REPLACED_CODE = frozenset({"CODE_NOT_REQUESTED", "WRONG_CODE"})
_CODE_TRIES = 4
# How long a member whose code was refused waits for a newer code's email before asking for another.
_NEWER_CODE_SECONDS = 30.0


@dataclass
class IncentiveResult:
    earners: int = 0
    refused_first: dict[str, int] = field(default_factory=dict)  # the first accounts' refusals, by reason
    held: int = 0
    paid_count: int = 0
    paid_amount: int = 0  # GET /admin/ledger's incentives paid
    provider_paid_amount: int = 0  # the provider's own count of what it paid
    owed_amount: int = 0  # what the rules owe the members' plans
    differences: list[dict[str, Any]] | None = None  # every day's reconciliation's; None when none ran
    reconciled_day: str = ""  # the last day reconciled
    ledger_shows_last: bool = False  # GET /admin/ledger's last reconciliation is that day's report
    reconciled_amount: int = 0  # what the provider's statements reconciled, over every day
    timed_out_after_commit: int = 0  # transfers the provider took and did not answer
    changed_while_screened: int = 0  # accounts changed during a run before the member's payment was queued
    changed_after_payment: int = 0  # refused while the payment was in flight, changed once it was paid

    @property
    def matches(self) -> bool:
        return (
            self.paid_amount == self.provider_paid_amount == self.reconciled_amount == self.owed_amount
            and self.differences == []
            and self.ledger_shows_last
            and self.timed_out_after_commit > 0
        )

    def line(self) -> str:
        differences = "none ran" if self.differences is None else f"{len(self.differences)} differences in all"
        shown = "the last shown by GET /admin/ledger" if self.ledger_shows_last else "NOT what GET /admin/ledger shows"
        return (
            f"Incentives: {self.paid_count:,} paid, Rp{self.paid_amount:,} (the provider paid Rp"
            f"{self.provider_paid_amount:,}; the rules owe Rp{self.owed_amount:,}); {self.earners:,} members earning, "
            f"first accounts refused {self.refused_first}, {self.held:,} held; reconciled up to "
            f"{self.reconciled_day} (Rp{self.reconciled_amount:,}, {shown}): {differences}; transfers timed out after "
            f"commit: {self.timed_out_after_commit}"
        )


def account_number(member: Member, attempt: int) -> str:
    """The member's e-wallet (its number a phone number, 08...), a new one for each attempt (its last digit, so
    that the last 4 digits a member is shown differ between its accounts)."""
    return f"0857{member.index:08d}{attempt}"


def account_rows(member: Member, person: dict[str, Any], changes: bool = False) -> list[dict[str, Any]]:
    """What the provider holds for the member's accounts: the first as its plan says, then a good one if refused,
    and the good one it changes to (`CHANGED_ATTEMPT`) if it `changes`."""
    good = {"provider": "OVO", "holder_name": person["full_name"], "nik": person["nik"], "kyc": True}
    good["status"] = "ACTIVE"
    refused = member.plan.first_account_refused
    first = {**good, "account_number": account_number(member, 0)}
    if refused is AccountRejection.NAME_MISMATCH:
        first["holder_name"] = f"{person['full_name']} Binti Sulaiman"
    elif refused is AccountRejection.NOT_KYC:
        first["kyc"] = False
    rows = [first] if refused is None else [first, {**good, "account_number": account_number(member, 1)}]
    return rows + ([{**good, "account_number": account_number(member, CHANGED_ATTEMPT)}] if changes else [])


def _paying(answer: requests.Response) -> bool:
    return answer.status_code == 409 and answer.json()["error"]["code"] == "PAYMENT_IN_FLIGHT"


def next_run(after: dt.datetime, at: dt.time) -> dt.datetime:
    """The first daily run at `at` (WIB) strictly after `after`, in UTC."""
    day = after.astimezone(JAKARTA).date()
    moment = dt.datetime.combine(day, at, tzinfo=JAKARTA)
    while moment <= after:
        moment += dt.timedelta(days=1)
    return moment.astimezone(dt.UTC)


class Months:
    def __init__(
        self,
        week: Week,
        market: Market,
        earners: list[Member],
        *,
        idle_seconds: float = 600,
        slow_ms: int = 0,
        changers: Sequence[Member] = (),
    ) -> None:
        self.week = week
        self.market = market
        self.stack = week.stack
        self.earners = earners
        self.changers = changers  # who change accounts during CHANGE_INCENTIVE's run
        self.idle_seconds = idle_seconds  # the longest wait for what a run set going to be done
        self.slow_ms = slow_ms  # the provider's latency through SLOW_INCENTIVE's morning
        self.result = IncentiveResult(earners=len(earners))

    def run(self) -> IncentiveResult:
        with self.week.stage("payout accounts linked (some refused, then fixed)"):
            earned_by = self.link_accounts()
        barred = [m for m in self.earners if m.plan.becomes_barred]
        runs = self.incentive_runs(earned_by)
        outage = runs[OUTAGE_INCENTIVE - 1]
        slow = runs[SLOW_INCENTIVE - 1]
        changing = runs[CHANGE_INCENTIVE - 1]
        recovery = next_run(outage, INCENTIVE_AT)
        outage_ends = next_run(outage, RECONCILIATION_AT)  # that day's reconciliation fails: the provider is down
        # Each morning's payments are reconciled by the next day's 23:30 run.
        evenings = {next_run(m + dt.timedelta(days=1), RECONCILIATION_AT) for m in (*runs, recovery)}
        with self.week.stage("four months: incentives paid at 09:00, reconciled at 23:30 WIB"):
            for moment in sorted({*runs, recovery, outage_ends, *evenings}):
                self.at(moment, latency_ms=self.slow_ms if moment == slow else 0)
                if moment == runs[0]:
                    self.timeout_after_commit(moment)
                elif outage <= moment <= outage_ends:
                    self.down(moment)
                    if moment == outage_ends:
                        self.stack.payment_provider_control(mode="up")
                    continue
                else:
                    self.stack.advance_clock(moment + dt.timedelta(minutes=1))
                    if moment == changing and self.changers:
                        self.change_accounts()
                self.stack.wait_until_idle(self.idle_seconds)
                self.week.welcome_new_members(self.market)
                if moment == runs[0]:
                    self.become_barred(barred)
        self.read_outcome(barred)
        return self.result

    # --- payout accounts --------------------------------------------------------------------------------------
    def link_accounts(self) -> dt.datetime:
        """Every earner's accounts at the provider, then linked; the refused replaced by a good one. Returns a
        moment by which every earner has earned its first incentive (its training reviewed, its account verified)."""
        people = {m.index: self.week.plan[m.index].person.registration() for m in self.earners}
        changing = {m.index for m in self.changers}
        rows = [row for m in self.earners for row in account_rows(m, people[m.index], m.index in changing)]
        payment_provider.write_csv(self.stack.payout_accounts_csv, rows)
        self.week.each("payout accounts linked", self.earners, lambda m: self.put_account(m, 0))
        self.wait_for_verdicts(len(self.earners))
        refused = [m for m in self.earners if m.plan.first_account_refused]
        self.week.each("refused accounts replaced", refused, lambda m: self.put_account(m, 1))
        self.wait_for_verdicts(len(self.earners) + len(refused))
        verdicts = self.verdicts_told()
        self.result.refused_first = {
            reason.value: sum(1 for m in verdicts if m.get("reason") == reason.value)
            for reason in (AccountRejection.NAME_MISMATCH, AccountRejection.NOT_KYC)
        }
        for member in self.earners:
            account = self.week.status_of(member.index)["membership"]["payout_account"]
            if account["status"] != "VERIFIED":
                raise RuntimeError(f"a payout account is {account['status']} ({account['reason']}), not VERIFIED")
        return self.stack.programme_now()

    def put_account(self, member: Member, attempt: int, *, unless_paying: bool = False) -> bool:
        """Links (attempt 0) or changes the member's account as the member does: asks for the one-time code (with
        its token, signing in again if it expired), reads the code from its email, and sends it with the account.
        A code refused as replaced or used is not tried again: a request asked again after a 429 (the session
        retries them) may have issued a newer code, whose email the member waits for a little, and otherwise asks
        for a new one (a first answer lost after the code was used leaves it used). With `unless_paying`, a refusal
        while an incentive is being paid (409 PAYMENT_IN_FLIGHT) is an answer too: False, nothing changed."""
        path = f"/applicants/{member.applicant_id}/payout-account"
        tried = set(self.codes_sent(member))  # earlier links' codes, none of which works now
        ask, answer = True, None
        for _ in range(_CODE_TRIES):
            if ask:
                asked = self.week.tokens.request(member.applicant_id, "POST", f"{path}/code")
                if unless_paying and _paying(asked):
                    return False
                expect("payout account code", asked, 202)
            code = self.newer_code(member, tried, self.idle_seconds if ask else _NEWER_CODE_SECONDS)
            ask = code is None
            if code is None:
                continue
            body = {"provider": "OVO", "account_number": account_number(member, attempt), "code": code}
            answer = self.week.tokens.request(member.applicant_id, "PUT", path, json=body)
            if not (answer.status_code in (400, 409) and answer.json()["error"]["code"] in _REPLACED_CODE):
                break
            tried.add(code)
        if answer is None:
            raise RuntimeError(f"no payout account code reached the member in {_CODE_TRIES} asks")
        if unless_paying and _paying(answer):
            return False
        expect("payout account", answer, 202)
        return True

    def codes_sent(self, member: Member) -> list[str]:
        """The payout-account codes the member's email brought, oldest first."""
        sent = self.stack.outbox_reader.messages("payout_account_code")
        return [m["code"] for m in sent if m["applicant_id"] == member.applicant_id and m["channel"] == "email"]

    def newer_code(self, member: Member, tried: set[str], seconds: float) -> str | None:
        """The newest code the member's email brought that it has not tried, once one comes within `seconds`."""
        deadline = time.monotonic() + seconds
        while not (fresh := [code for code in self.codes_sent(member) if code not in tried]):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)
        return fresh[-1]

    def change_accounts(self) -> None:
        """While the run just fired screens and pays, the changers change to their own new accounts: before their
        payment is queued (changed), or after (refused while it is in flight, then changed once it is paid). Then
        everything the run set going is waited for, and every new account's verdict."""
        changed = self.week.each(
            "accounts changed during a run",
            self.changers,
            lambda m: self.put_account(m, CHANGED_ATTEMPT, unless_paying=True),
        )
        self.result.changed_while_screened = sum(changed)
        self.stack.wait_until_idle(self.idle_seconds)
        later = [m for m, done in zip(self.changers, changed, strict=True) if not done]
        self.week.each("accounts changed after their payment", later, lambda m: self.put_account(m, CHANGED_ATTEMPT))
        self.result.changed_after_payment = len(later)
        new_last4 = {m.index: account_number(m, CHANGED_ATTEMPT)[-4:] for m in self.changers}

        def verified() -> int:
            accounts = [self.week.status_of(m.index)["membership"]["payout_account"] for m in self.changers]
            return sum(
                1
                for m, account in zip(self.changers, accounts, strict=True)
                if (account["last4"], account["status"]) == (new_last4[m.index], "VERIFIED")
            )

        self.week.wait("changed accounts verified", verified, len(self.changers), self.idle_seconds)
        self.stack.wait_until_idle(self.idle_seconds)

    def wait_for_verdicts(self, total: int) -> None:
        self.week.wait("payout accounts checked", lambda: len(self.verdicts_told()), total, self.idle_seconds)

    def verdicts_told(self) -> list[dict[str, Any]]:
        """The provider's verdicts the members were told of (by email), one per account linked (a notice sent again
        by a consumer that stopped before noting it counted once)."""
        told = [m for m in self.stack.outbox("payout_account_checked") if m["channel"] == "email"]
        return list({(m["applicant_id"], m["status"], m["reason"]): m for m in told}.values())

    # --- the months ---------------------------------------------------------------------------------------------
    def incentive_runs(self, earned_by: dt.datetime) -> list[dt.datetime]:
        """The 09:00 runs that pay each incentive: the first after the clock and the first one's earning, each
        next the first after the day before's and after it falls due (30 days after the one before fell due)."""
        runs: list[dt.datetime] = []
        after = max(self.stack.clock(), earned_by)
        for number in range(rules.INCENTIVE_COUNT):
            due = earned_by + dt.timedelta(days=rules.INCENTIVE_INTERVAL_DAYS * number)
            runs.append(next_run(max(after, due), INCENTIVE_AT))
            after = runs[-1]
        return runs

    def timeout_after_commit(self, moment: dt.datetime) -> None:
        """The run at `moment` with the provider taking the first transfer and then not answering; up again once it
        has taken one."""
        taken = self.provider_paid()
        self.stack.payment_provider_control(mode=payment_provider.TIMEOUT_AFTER_COMMIT, hang_ms=TIMEOUT_AFTER_COMMIT_MS)
        self.stack.advance_clock(moment + dt.timedelta(minutes=1))
        self.week.wait("a transfer taken and not answered", lambda: self.provider_paid() - taken, 1, 300)
        self.stack.payment_provider_control(mode="up")
        self.result.timed_out_after_commit += 1

    def down(self, moment: dt.datetime) -> None:
        """The run at `moment` with the provider down: the payments' messages run out of tries (dead-lettered, the
        payments left SENT) and the reconciliation fails; the next morning's run queues them again."""
        self.stack.payment_provider_control(mode="down")
        self.stack.advance_clock(moment + dt.timedelta(minutes=1))
        self.stack.wait_for_empty_queues([INCENTIVES_QUEUE], timeout_seconds=self.idle_seconds)
        self.stack.wait_for_empty_queues([PAYMENTS_QUEUE], timeout_seconds=self.idle_seconds)

    def provider_paid(self) -> int:
        return int(self.stack.payment_provider_control()["paid"])

    def at(self, moment: dt.datetime, latency_ms: int = 0) -> None:
        """The scheduler's clock just before `moment`, nothing fired on the way; the provider's clock at it, and its
        latency."""
        self.stack.jump_clock(moment - dt.timedelta(minutes=1))
        self.stack.payment_provider_control(now=moment.isoformat(), latency_ms=latency_ms)

    def become_barred(self, barred: list[Member]) -> None:
        """The registry rewritten: these members are now civil servants or students (before the next falls due)."""
        changes = {self.week.plan[m.index].person.nik: m.plan.becomes_barred or {} for m in barred}
        rows = [{**p.registry, **changes.get(p.registry["nik"], {})} for p in self.week.plan if p.registry]
        write_csv(self.stack.registry_csv, rows)

    # --- what came of it ---------------------------------------------------------------------------------------
    def read_outcome(self, barred: list[Member]) -> None:
        ledger = expect(
            "GET /admin/ledger",
            self.week.http.get(self.week.url("/admin/ledger"), headers=self.week.admin(), timeout=60),
            200,
        )
        paid = ledger["incentives"]["paid"]
        self.result.held = len(barred)
        self.result.paid_count, self.result.paid_amount = int(paid["count"]), int(paid["amount"])
        self.result.provider_paid_amount = int(self.stack.payment_provider_control()["paid_amount"])
        earned = sum(1 if m.plan.becomes_barred else rules.INCENTIVE_COUNT for m in self.earners)
        self.result.owed_amount = rules.INCENTIVE_AMOUNT * earned
        # Every day's report, from the payments table itself (GET /admin/ledger shows the last one only, which
        # must be the newest day's).
        reports = sorted(self.reconciliations(), key=lambda report: str(report["day"]))
        if reports:
            self.result.differences = [d for report in reports for d in report["differences"]]
            self.result.reconciled_day = str(reports[-1]["day"])
            self.result.reconciled_amount = sum(int(report["provider"]["amount"]) for report in reports)
            self.result.ledger_shows_last = ledger["last_reconciliation"] == reports[-1]

    def reconciliations(self) -> list[dict[str, Any]]:
        pages = (
            self.stack.client("dynamodb")
            .get_paginator("scan")
            .paginate(
                TableName=self.stack.env["PRAKERJA_PAYMENTS_TABLE"],
                FilterExpression="begins_with(payment_id, :prefix) AND payment_id <> :latest",
                ExpressionAttributeValues={
                    ":prefix": {"S": RECONCILIATION_PREFIX},
                    ":latest": {"S": LATEST_RECONCILIATION},
                },
            )
        )
        return [json.loads(item["report"]["S"]) for page in pages for item in page["Items"]]


def expected_incentive_stages(earners: list[Member]) -> dict[str, int]:
    """What the plans imply: every earner's account verified and its first incentive paid; the barred held at
    the second and paid nothing more."""
    barred = sum(1 for m in earners if m.plan.becomes_barred)
    expected = {FunnelStage.ACCOUNT_VERIFIED.value: len(earners)}
    for number, stage in enumerate(INCENTIVE_STAGES, start=1):
        expected[stage.value] = len(earners) - (barred if number > 1 else 0)
    expected[FunnelStage.HELD.value] = barred
    return expected
