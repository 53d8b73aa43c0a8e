"""Incentives, over HTTP on a local stack of its own: six members who completed and reviewed a training link payout
accounts at the local payment provider (one refused for a name that does not match, one for an e-wallet without
KYC, each then fixed with a new account); the 09:00 WIB schedule pays them on the scheduler's clock. The first
payment waits on a provider that hangs (the account cannot change meanwhile: 409) and then times out after taking
the transfer, and is paid once; at the next run two members now barred or no longer in the civil registry are held
and told, a payment to an account the provider has since blocked fails and is paid once the member changes it;
the 23:30 WIB reconciliation is clean, then lists a transfer made only at the provider and raises its alarm
metric; a month on, an account changed to a stranger's while the run screens its member is paid nothing, and the
payment goes once the member's own account is verified. The tests share the members and the clock, so they run in
order."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devstack import payment_provider
from devstack.after_acceptance import Tokens
from devstack.incentive_months import INCENTIVE_AT, RECONCILIATION_AT, TIMEOUT_AFTER_COMMIT_MS, next_run
from devstack.partners import PartnerClient
from devstack.population import Person, PopulationGenerator, registry_row
from devstack.stack import EmbeddedStack
from functions.adapters.payment_provider import IDEMPOTENCY_HEADER, STATEMENT_PATH, TRANSFERS_PATH
from functions.domain import rules
from functions.domain.calendar import JAKARTA
from functions.domain.incentives import payment_id
from tests.e2e.conftest import Api, stack_of_small_waves
from tests.e2e.test_membership_over_http import MINIMUM_HOURS, bought, membership, review
from tests.e2e.test_waves_over_http import enrol, join_all, run_week

MEMBERS = 6
AMOUNT = rules.INCENTIVE_AMOUNT
# Who each member is in the story (its place in `earners`).
PROMPT, MISNAMED, WITHOUT_KYC, BARRED, UNREGISTERED, BLOCKED = range(MEMBERS)
OUTSIDE_KEY = "paid-outside-the-programme"  # a transfer made at the provider, none of ours


@pytest.fixture(scope="module")
def pay_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API of the module's own stack (its `stack`), whose wave takes all six members; the loop ends, and the
    stack stops, when pytest finalises the fixture."""
    for running in stack_of_small_waves(tmp_path_factory, "incentives", MEMBERS):
        yield Api(running)


@pytest.fixture(scope="module")
def pay_stack(pay_api: Api) -> EmbeddedStack:
    return pay_api.stack


@pytest.fixture(scope="module")
def people() -> list[Person]:
    return PopulationGenerator(seed=1111).people(MEMBERS)


@pytest.fixture(scope="module")
def tokens(pay_stack: EmbeddedStack) -> Tokens:
    """The members' access tokens, renewed by signing in again once 30 programme days have passed (the second
    incentive's run is 30 days after the first's)."""
    return Tokens(pay_stack, requests.Session(), pay_stack.outbox_reader)


@pytest.fixture(scope="module")
def earners(
    pay_api: Api,
    pay_stack: EmbeddedStack,
    tokens: Tokens,
    people: list[Person],
    tmp_path_factory: pytest.TempPathFactory,
) -> list[dict[str, Any]]:
    """Wave 1's six members, each with a training bought, completed once its minimum hours have passed on the
    programme's clock, and reviewed: what the first incentive needs but a verified payout account."""
    pay_api.add_to_registry([registry_row(p) for p in people])
    with ThreadPoolExecutor(max_workers=MEMBERS) as pool:
        applicants = list(pool.map(lambda p: enrol(pay_api, p), people))
    for person, applicant in zip(people, applicants, strict=True):
        tokens.keep(applicant["applicant_id"], applicant["access_token"], person.email)
    join_all(pay_api, applicants, 1)
    run_week(pay_api, pay_stack, tmp_path_factory.mktemp("wave-1"))
    partner = PartnerClient(
        pay_stack.api_url,
        "e2e-kursus",
        pay_stack.partner_secret("e2e-kursus", "Kursus Uji"),
        now=pay_stack.programme_seconds,
    )

    def bought_one(place: int, applicant: dict[str, Any]) -> tuple[dict[str, Any], str]:
        status = pay_api.applicant(applicant["applicant_id"], applicant["access_token"]).json()
        assert status["status"] == "ACCEPTED", status
        member = {**applicant, "card_number": status["card_number"]}
        return member, bought(pay_api, partner, member, 150_000, f"pay-{place}")

    def earned(place: int, member: dict[str, Any], purchase_id: str) -> dict[str, Any]:
        completed_at = pay_stack.programme_now().isoformat()
        assert partner.report_completion(purchase_id, completed_at, f"CERT-PAY-{place}").status_code == 200
        assert review(tokens, member, purchase_id, 5).status_code == 201
        return member

    with ThreadPoolExecutor(max_workers=3) as pool:
        members, purchases = zip(*pool.map(bought_one, range(MEMBERS), applicants), strict=True)
    pay_stack.advance_clock(pay_stack.programme_now() + dt.timedelta(hours=MINIMUM_HOURS, minutes=1))
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(earned, range(MEMBERS), members, purchases))


# --- the member's payout account ----------------------------------------------------------------------------------


def account_number(index: int, attempt: int) -> str:
    """The member's e-wallet (a phone number), a new one for each attempt."""
    return f"0813{attempt}{index:07d}"


def provider_row(person: Person, number: str, **changes: Any) -> dict[str, Any]:
    """What the provider holds for an account of this person's: by default its holder's own, KYC'd and active."""
    row = {
        "provider": "OVO",
        "account_number": number,
        "holder_name": person.full_name,
        "nik": person.nik,
        "kyc": True,
        "status": "ACTIVE",
    }
    return row | changes


class Accounts:
    """The provider's accounts, as the test opens and changes them (its CSV, rewritten whole)."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.stack = stack
        self.rows: dict[str, dict[str, Any]] = {}

    def open(self, *rows: dict[str, Any]) -> None:
        self.rows.update({row["account_number"]: row for row in rows})
        payment_provider.write_csv(self.stack.payout_accounts_csv, list(self.rows.values()))


@pytest.fixture(scope="module")
def accounts(pay_stack: EmbeddedStack) -> Accounts:
    return Accounts(pay_stack)


def ask_code(tokens: Tokens, member: dict[str, Any]) -> requests.Response | str:
    """Asks for the one-time code as the member does (with its token, signing in again if it expired) and reads it
    from the member's email; the refusal, if refused."""
    applicant_id = member["applicant_id"]
    mine = {"applicant_id": applicant_id, "channel": "email"}
    before = [m for m in tokens.outbox.messages("payout_account_code") if all(m[k] == v for k, v in mine.items())]
    asked = tokens.request(applicant_id, "POST", f"/applicants/{applicant_id}/payout-account/code")
    if asked.status_code != 202:
        return asked
    code: str = tokens.outbox.wait_for_messages("payout_account_code", len(before) + 1, **mine)[-1]["code"]
    return code


def send_account(tokens: Tokens, member: dict[str, Any], number: str, code: str) -> requests.Response:
    applicant_id = member["applicant_id"]
    body = {"provider": "OVO", "account_number": number, "code": code}
    return tokens.request(applicant_id, "PUT", f"/applicants/{applicant_id}/payout-account", json=body)


def put_account(tokens: Tokens, member: dict[str, Any], number: str) -> requests.Response:
    """Links or changes the account as the member does: the one-time code (its refusal, if refused), then the
    account with it."""
    code = ask_code(tokens, member)
    return code if isinstance(code, requests.Response) else send_account(tokens, member, number, code)


def seen_when(
    tokens: Tokens, member: dict[str, Any], wanted: Callable[[dict[str, Any]], bool], timeout_seconds: float = 120
) -> dict[str, Any]:
    """The member's membership as `GET /applicants/{id}` shows it, once `wanted` holds of it."""
    deadline = time.monotonic() + timeout_seconds
    while not wanted(seen := membership(tokens, member)):
        assert time.monotonic() < deadline, f"not seen in {timeout_seconds:.0f}s: {seen}"
        time.sleep(0.3)
    return seen


def checked_account(tokens: Tokens, member: dict[str, Any], number: str) -> dict[str, Any]:
    """The account linked (202, PENDING), and the provider's verdict once the member sees it."""
    answer = put_account(tokens, member, number)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"provider": "OVO", "last4": number[-4:], "status": "PENDING", "reason": None}
    seen = seen_when(tokens, member, lambda m: m["payout_account"]["status"] != "PENDING")
    account: dict[str, Any] = seen["payout_account"]
    assert account["last4"] == number[-4:]
    return account


def told(stack: EmbeddedStack, kind: str, member: dict[str, Any], channels: int = 2) -> list[dict[str, Any]]:
    """The member's notices of this kind, once the outbox holds at least `channels` of them (they are delivered
    after what they tell of)."""
    return stack.outbox_reader.wait_for_messages(kind, channels, applicant_id=member["applicant_id"])


# --- the provider, the scheduler and the admin ------------------------------------------------------------------


def at(stack: EmbeddedStack, moment: dt.datetime) -> None:
    """The daily run at `moment`: the scheduler's clock there (nothing fired on the way but that run), the
    provider's clock with it, so that what it pays falls on the scheduler's day."""
    stack.jump_clock(moment - dt.timedelta(minutes=1))
    stack.payment_provider_control(now=moment.isoformat())
    stack.advance_clock(moment + dt.timedelta(minutes=1))


def statement(stack: EmbeddedStack) -> list[dict[str, Any]]:
    """Everything the provider has paid, from its own statement."""
    answer = requests.get(
        f"{stack.payment_provider_url}{STATEMENT_PATH}", params={"since": "2020-01-01T00:00:00+00:00"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    lines: list[dict[str, Any]] = answer.json()["lines"]
    return lines


def transfers_for(stack: EmbeddedStack, member: dict[str, Any], number: int = 1) -> list[dict[str, Any]]:
    return [line for line in statement(stack) if line["idempotency_key"] == payment_id(member["applicant_id"], number)]


def ledger(api: Api) -> dict[str, Any]:
    token = api.stack.admin_token("e2e-bendahara@kemnaker.go.id")
    answer = api.http.get(f"{api.base_url}/admin/ledger", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def reconciliation_alarm(stack: EmbeddedStack) -> list[float]:
    """The alarm metric as the last reconciliation run emitted it, one value a day reconciled, oldest first
    (Powertools' embedded metric format: the log lines CloudWatch turns into metrics; the schedules run in the
    scheduler's process)."""
    emitted = [
        json.loads(line)["ReconciliationDifferences"]
        for line in (stack.log_dir / "scheduler.log").read_text().splitlines()
        if line.startswith("{") and '"_aws"' in line and "ReconciliationDifferences" in line
    ]
    assert emitted, "no reconciliation has emitted its metric"
    values: list[float] = emitted[-1]
    return values


def incentive(seen: dict[str, Any]) -> dict[str, Any]:
    """The member's one incentive so far."""
    (only,) = seen["incentives"]
    assert only["number"] == 1 and only["amount"] == AMOUNT
    found: dict[str, Any] = only
    return found


# --- the paths --------------------------------------------------------------------------------------------------


def test_a_payment_the_provider_took_and_never_answered_is_paid_once_and_the_account_cannot_change_meanwhile(
    pay_api: Api,
    tokens: Tokens,
    pay_stack: EmbeddedStack,
    earners: list[dict[str, Any]],
    people: list[Person],
    accounts: Accounts,
) -> None:
    member = earners[PROMPT]
    accounts.open(provider_row(people[PROMPT], account_number(PROMPT, 0)))
    assert checked_account(tokens, member, account_number(PROMPT, 0)) == {
        "provider": "OVO",
        "last4": account_number(PROMPT, 0)[-4:],
        "status": "VERIFIED",
        "reason": None,
    }
    assert sorted(m["channel"] for m in told(pay_stack, "payout_account_changed", member)) == ["email", "sms"]

    # Given a provider that holds every request unanswered, when the 09:00 WIB run pays the first incentive
    pay_stack.payment_provider_control(mode="hang", hang_ms=30_000)
    first_run = next_run(pay_stack.programme_now(), INCENTIVE_AT)
    at(pay_stack, first_run)
    seen_when(tokens, member, lambda m: [i["status"] for i in m["incentives"]] == ["SENT"])

    # Then the account cannot change while the payment is in flight
    refused = put_account(tokens, member, account_number(PROMPT, 1))
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "PAYMENT_IN_FLIGHT"), refused.text
    assert membership(tokens, member)["payout_account"]["last4"] == account_number(PROMPT, 0)[-4:]

    # When the provider then takes the transfer and does not answer (the client gives up after 5 s)
    pay_stack.payment_provider_control(mode=payment_provider.TIMEOUT_AFTER_COMMIT, hang_ms=TIMEOUT_AFTER_COMMIT_MS)
    deadline = time.monotonic() + 120
    while pay_stack.payment_provider_control()["paid"] < 1:
        assert time.monotonic() < deadline, "the provider took no transfer"
        time.sleep(0.2)
    pay_stack.payment_provider_control(mode="up")
    pay_stack.wait_until_idle(timeout_seconds=300)

    # Then it is PAID once: one transfer at the provider, one INCENTIVE entry, one notice
    paid = incentive(seen_when(tokens, member, lambda m: m["incentives"][0]["status"] == "PAID"))
    assert paid["reason"] is None and paid["paid_at"]
    (transfer,) = transfers_for(pay_stack, member)
    assert (transfer["amount"], transfer["status"]) == (AMOUNT, "PAID")
    assert dt.datetime.fromisoformat(paid["paid_at"]) == dt.datetime.fromisoformat(transfer["paid_at"])
    shown = ledger(pay_api)
    assert shown["totals"]["INCENTIVE"] == AMOUNT
    assert shown["incentives"]["paid"] == {"count": 1, "amount": AMOUNT}
    assert shown["incentives"]["due"] == {"count": 0, "amount": 0}
    assert [m["number"] for m in told(pay_stack, "incentive_paid", member, channels=1) if m["channel"] == "email"] == [
        1
    ]


def test_accounts_refused_for_a_name_that_does_not_match_or_no_kyc_are_fixed_with_a_new_one(
    pay_api: Api,
    tokens: Tokens,
    pay_stack: EmbeddedStack,
    earners: list[dict[str, Any]],
    people: list[Person],
    accounts: Accounts,
) -> None:
    # Given at the provider: the first accounts of two members in another holder's name and without KYC, good
    # second ones, and good accounts for the rest
    refused = {
        MISNAMED: provider_row(
            people[MISNAMED], account_number(MISNAMED, 0), holder_name=f"{people[MISNAMED].full_name} Binti Sulaiman"
        ),
        WITHOUT_KYC: provider_row(people[WITHOUT_KYC], account_number(WITHOUT_KYC, 0), kyc=False),
    }
    good = [provider_row(people[i], account_number(i, 1 if i in refused else 0)) for i in range(1, MEMBERS)]
    accounts.open(*refused.values(), *good)

    # When they link them
    with ThreadPoolExecutor(max_workers=2) as pool:
        checked = pool.map(lambda i: checked_account(tokens, earners[i], account_number(i, 0)), refused)
        first = dict(zip(refused, checked, strict=True))

    # Then the two are REJECTED with the brief's reasons, and told so
    assert (first[MISNAMED]["status"], first[MISNAMED]["reason"]) == ("REJECTED", "NAME_MISMATCH")
    assert (first[WITHOUT_KYC]["status"], first[WITHOUT_KYC]["reason"]) == ("REJECTED", "NOT_KYC")
    for index, reason in ((MISNAMED, "NAME_MISMATCH"), (WITHOUT_KYC, "NOT_KYC")):
        verdicts = told(pay_stack, "payout_account_checked", earners[index], channels=1)
        assert [(m["status"], m["reason"]) for m in verdicts if m["channel"] == "email"] == [("REJECTED", reason)]

    # And a new account each (the rest their first) is VERIFIED
    with ThreadPoolExecutor(max_workers=3) as pool:
        fixed = list(
            pool.map(
                lambda i: checked_account(tokens, earners[i], account_number(i, 1 if i in refused else 0)),
                range(1, MEMBERS),
            )
        )
    assert {(a["status"], a["reason"]) for a in fixed} == {("VERIFIED", None)}
    # Nothing is paid until the next run
    assert all(membership(tokens, m)["incentives"] == [] for m in earners[1:])


def test_members_now_barred_or_unknown_are_held_and_a_failed_payment_is_paid_once_after_the_account_changes(
    pay_api: Api,
    tokens: Tokens,
    pay_stack: EmbeddedStack,
    earners: list[dict[str, Any]],
    people: list[Person],
    accounts: Accounts,
) -> None:
    # Given before the next run: one member now a civil servant, one no longer in the civil registry, and one
    # account the provider has since blocked
    del pay_api.registry_rows[people[UNREGISTERED].nik]
    pay_api.add_to_registry([registry_row(people[BARRED], occupation="ASN")])
    blocked = provider_row(people[BLOCKED], account_number(BLOCKED, 0), status="BLOCKED")
    accounts.open(blocked)

    # When the next day's 09:00 WIB run pays
    second_run = next_run(pay_stack.clock(), INCENTIVE_AT)
    at(pay_stack, second_run)
    pay_stack.wait_until_idle(timeout_seconds=300)

    # Then the two with fixed accounts are paid
    for index in (MISNAMED, WITHOUT_KYC):
        assert incentive(membership(tokens, earners[index]))["status"] == "PAID"
        assert len(transfers_for(pay_stack, earners[index])) == 1

    # The barred and the unknown are HELD with the reason, told by email and SMS, and not paid
    for index, reason in ((BARRED, "BARRED_OCCUPATION"), (UNREGISTERED, "NOT_FOUND")):
        held = incentive(membership(tokens, earners[index]))
        assert (held["status"], held["reason"], held["paid_at"]) == ("HELD", reason, None)
        notices = told(pay_stack, "incentive_held", earners[index])
        assert sorted((m["channel"], m["reason"]) for m in notices) == [("email", reason), ("sms", reason)]
        assert transfers_for(pay_stack, earners[index]) == []

    # The payment to the blocked account FAILED with the provider's reason, and the member is told what to fix
    member = earners[BLOCKED]
    failed = incentive(membership(tokens, member))
    assert (failed["status"], failed["reason"]) == ("FAILED", "BLOCKED")
    notices = told(pay_stack, "incentive_failed", member)
    assert sorted((m["channel"], m["reason"]) for m in notices) == [("email", "BLOCKED"), ("sms", "BLOCKED")]
    assert transfers_for(pay_stack, member) == []

    # When the member changes to a new account (the failed payment is not in flight: the change is allowed)
    accounts.open(provider_row(people[BLOCKED], account_number(BLOCKED, 1)))
    assert checked_account(tokens, member, account_number(BLOCKED, 1))["status"] == "VERIFIED"
    pay_stack.wait_until_idle(timeout_seconds=300)

    # Then the payment goes again without waiting for a run, and is PAID once, into the new account
    paid = incentive(seen_when(tokens, member, lambda m: m["incentives"][0]["status"] == "PAID"))
    assert paid["reason"] is None
    (transfer,) = transfers_for(pay_stack, member)
    assert (transfer["account_number"], transfer["amount"]) == (account_number(BLOCKED, 1), AMOUNT)
    assert [m["number"] for m in told(pay_stack, "incentive_paid", member, channels=1) if m["channel"] == "email"] == [
        1
    ]

    # And the admin's ledger: four paid (one INCENTIVE entry each), two held, none failed or due
    shown = ledger(pay_api)
    assert shown["totals"]["INCENTIVE"] == 4 * AMOUNT
    assert shown["incentives"] == {
        "due": {"count": 0, "amount": 0},
        "paid": {"count": 4, "amount": 4 * AMOUNT},
        "held": {"count": 2, "amount": 2 * AMOUNT},
        "failed": {"count": 0, "amount": 0},
    }
    assert shown["identity"]["holds"] is True
    assert len(statement(pay_stack)) == 4


def test_the_reconciliation_is_clean_then_lists_a_transfer_made_only_at_the_provider_and_raises_the_alarm(
    pay_api: Api, tokens: Tokens, pay_stack: EmbeddedStack, earners: list[dict[str, Any]], people: list[Person]
) -> None:
    paid = {line["idempotency_key"]: line for line in statement(pay_stack)}
    days = sorted({dt.datetime.fromisoformat(line["paid_at"]).astimezone(JAKARTA).date() for line in paid.values()})
    first_day, second_day = days  # the two runs' days, on the scheduler's clock

    # When the 23:30 WIB reconciliation after the first run compares that day
    at(pay_stack, next_run(pay_stack.clock(), RECONCILIATION_AT))

    # Then the admin's ledger shows it clean: the provider's one payment is ours
    last = ledger(pay_api)["last_reconciliation"]
    assert last["day"] == first_day.isoformat()
    assert last["differences"] == []
    assert last["provider"] == last["ours"] == {"count": 1, "amount": AMOUNT}
    assert set(reconciliation_alarm(pay_stack)) == {0}

    # Given a transfer the provider makes that is none of ours (on the second run's day, by its clock)
    outside = requests.post(
        f"{pay_stack.payment_provider_url}{TRANSFERS_PATH}",
        json={"provider": "OVO", "account_number": account_number(PROMPT, 0), "amount": AMOUNT, "description": "-"},
        headers={IDEMPOTENCY_HEADER: OUTSIDE_KEY},
        timeout=10,
    )
    assert (outside.status_code, outside.json()["status"]) == (200, "PAID"), outside.text
    assert dt.datetime.fromisoformat(outside.json()["paid_at"]).astimezone(JAKARTA).date() == second_day

    # When the next night's reconciliation compares that day
    at(pay_stack, next_run(pay_stack.clock(), RECONCILIATION_AT))

    # Then the ledger lists the difference, our three payments of that day agreeing, and the alarm metric is raised
    last = ledger(pay_api)["last_reconciliation"]
    assert last["day"] == second_day.isoformat()
    assert last["differences"] == [
        {"payment_id": OUTSIDE_KEY, "kind": "PAID_THERE_NOT_HERE", "ours": None, "theirs": AMOUNT}
    ]
    assert last["ours"] == {"count": 3, "amount": 3 * AMOUNT}
    assert last["provider"] == {"count": 4, "amount": 4 * AMOUNT}
    assert reconciliation_alarm(pay_stack) == [1]

    # And no account number reached a notice or a log line
    numbers = [account_number(i, attempt) for i in range(MEMBERS) for attempt in (0, 1)]
    written = json.dumps(pay_stack.outbox()) + "".join(p.read_text() for p in pay_stack.log_dir.glob("*.log"))
    assert not [number for number in numbers if number in written]


def test_an_account_changed_while_the_run_screens_its_member_is_paid_nothing_until_the_member_verifies_its_own(
    tokens: Tokens, pay_stack: EmbeddedStack, earners: list[dict[str, Any]], people: list[Person], accounts: Accounts
) -> None:
    # Given the review's reproduction: a KYC'd account at the provider in another person's name, the member's
    # own new account, and the run 30 days on that pays the member's second incentive
    member = earners[PROMPT]
    stolen, own = account_number(PROMPT, 2), account_number(PROMPT, 3)
    accounts.open(provider_row(people[BLOCKED], stolen), provider_row(people[PROMPT], own))
    second = next_run(pay_stack.clock() + dt.timedelta(days=rules.INCENTIVE_INTERVAL_DAYS - 2), INCENTIVE_AT)
    pay_stack.jump_clock(second - dt.timedelta(minutes=5))
    pay_stack.payment_provider_control(now=second.isoformat())
    code = ask_code(tokens, member)  # whoever holds the member's token and reads its email
    assert isinstance(code, str), code.text

    # When the run screens its members against a registry that takes 4 s an answer, and the account changes then
    pay_stack.registry_control(latency_ms=4000, reset_stats=True)
    pay_stack.advance_clock(second + dt.timedelta(minutes=1))
    deadline = time.monotonic() + 120
    while pay_stack.registry_control()["in_flight"] == 0:
        assert time.monotonic() < deadline, "the run screened nobody"
        time.sleep(0.05)
    changed = send_account(tokens, member, stolen, code)
    assert changed.status_code == 202, changed.text  # no payment in flight yet: the run is screening
    pay_stack.registry_control(latency_ms=0)
    pay_stack.wait_until_idle(timeout_seconds=300)

    # Then nothing is sent to the new account, and the provider's check refuses the stranger's account. Where the
    # run had read the member before the change (its shard screened first, as the review found), the payment pinned
    # to the verified account FAILED ACCOUNT_CHANGED and the member is told; where the change came before the run
    # read the member (another shard screened first), the run found no verified account and queued nothing.
    shown = seen_when(tokens, member, lambda m: m["payout_account"]["status"] != "PENDING")
    assert (shown["payout_account"]["last4"], shown["payout_account"]["status"]) == (stolen[-4:], "REJECTED")
    raced = shown["incentives"][1:]
    if raced:
        assert [(i["number"], i["status"], i["reason"]) for i in raced] == [(2, "FAILED", "ACCOUNT_CHANGED")]
        failed = told(pay_stack, "incentive_failed", member)
        assert [m["reason"] for m in failed if m.get("number") == 2 and m["channel"] == "email"] == ["ACCOUNT_CHANGED"]
    assert transfers_for(pay_stack, member, 2) == []

    # When the member puts its own account and the provider verifies it, the failed payment goes again at once (or
    # the next run pays it), once, into that account, and never into the stranger's
    assert checked_account(tokens, member, own)["status"] == "VERIFIED"
    if not raced:
        at(pay_stack, next_run(pay_stack.clock(), INCENTIVE_AT))
    pay_stack.wait_until_idle(timeout_seconds=300)
    paid = seen_when(tokens, member, lambda m: len(m["incentives"]) > 1 and m["incentives"][1]["status"] == "PAID")
    assert (paid["incentives"][1]["number"], paid["incentives"][1]["amount"]) == (2, AMOUNT)
    (transfer,) = transfers_for(pay_stack, member, 2)
    assert (transfer["account_number"], transfer["amount"]) == (own, AMOUNT)
    assert stolen not in {line["account_number"] for line in statement(pay_stack)}
