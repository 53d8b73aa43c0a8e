"""Incentives on moto, with the real local civil registry and payment provider: the first falls due only after a
completed and reviewed training and a verified account, each next 30 days later, four in all, each PAID with its
ledger entry; a member now barred is HELD and told; a FAILED payment goes again once the account is verified again;
duplicate deliveries, a crash between the provider's answer and our write and a timeout after the provider took
the transfer never pay twice; the reconciliation is clean, then catches a difference planted on either side."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from devstack import payment_provider as local_provider
from devstack import registry as local_registry
from devstack.payment_provider import ProviderServer
from devstack.registry import RegistryServer
from devstack.scheduler import Schedule, scheduled_event
from functions.adapters import personal_data
from functions.adapters.payment_provider import payment_provider
from functions.adapters.purposes import Purpose
from functions.domain.email_code import IssuedCode
from functions.domain.incentives import PaymentStatus, PayoutAccountStatus, PinnedAccount, paid_day, payment_id
from functions.domain.lifecycle import INCENTIVE_STAGES, FunnelStage
from functions.domain.membership import LedgerKind, MembershipState
from functions.domain.messages import PaymentRequest, PayoutCheckRequest
from functions.domain.wave import WaveState
from functions.payouts import payment_consumer, queue_due_incentives
from functions.schedules import INCENTIVE_CRON
from functions.services import incentive_payments, membership
from functions.settings import settings
from functions.store import funnel, members, payments, payout_accounts
from functions.store.models import ApplicantRecord, MemberRecord, PaymentRecord, WaveRecord, bind, cohort_key
from tests.helpers import FakeLambdaContext, sqs_event
from tests.integration.conftest import run_consumers

AMOUNT = settings().incentive_amount
SCHEDULE = Schedule("queue_due_incentives", INCENTIVE_CRON.to_string(), "")
T0 = dt.datetime(2020, 5, 4, 2, 0, tzinfo=dt.UTC)  # 09:00 WIB
DAY = dt.timedelta(days=1)
CONSUMERS = ("incentive_consumer", "payment_consumer", "notification_consumer")


@pytest.fixture
def services(
    aws: dict[str, str], registry_service: RegistryServer, payment_provider_service: ProviderServer
) -> tuple[RegistryServer, ProviderServer]:
    """Wave 1 published, wave 2 open; the registry and the provider empty until members are added."""
    bind()
    WaveRecord(number=0, current=2).save()
    WaveRecord(number=1, state=WaveState.PUBLISHED.value, published_at=T0 - 40 * DAY).save()
    WaveRecord(number=2, state=WaveState.OPEN.value).save()
    return registry_service, payment_provider_service


class People:
    """Members written as acceptance and the purchases leave them, with their rows at the registry and the
    provider."""

    def __init__(self, registry: RegistryServer, provider: ProviderServer) -> None:
        self.registry, self.provider = registry, provider
        self.people: list[dict[str, Any]] = []
        self.accounts: list[dict[str, Any]] = []

    def add(
        self,
        *,
        reviewed_at: dt.datetime | None = T0,
        verified_at: dt.datetime | None = T0,
        occupation: str = "PRIVATE",
        kyc: bool = True,
    ) -> str:
        applicant_id = uuid.uuid4().hex
        n = len(self.people)
        person = {
            "nik": f"31710157089500{n:02d}",
            "kk_number": f"31710101010100{n:02d}",
            "full_name": f"Siti Aminah {chr(65 + n)}",
            "birth_date": "1995-08-17",
            "gender": "F",
            "email": f"member{n}@example.com",
            "phone": f"+6281200000{n:03d}",
        }
        account = f"0812345600{n:02d}"
        ApplicantRecord(
            applicant_id=applicant_id,
            status="ACCEPTED",
            personal_data=personal_data.seal_json(person, applicant_id, Purpose.APPLICANT_DATA),
            nik_hash=f"nik-{n}",
            email_hash=f"email-{n}",
            phone_hash=f"phone-{n}",
            family=f"family-{n}",
            nik_last4=person["nik"][-4:],
            regency_code="3171",
            province_code="31",
            employment_status="laid_off",
            declared_social_aid=False,
            submitted_at=T0 - 50 * DAY,
            created_at=T0 - 50 * DAY,
            updated_at=T0 - 50 * DAY,
        ).save()
        MemberRecord(
            applicant_id=applicant_id,
            card_number=f"{n:016d}",
            wave=1,
            cohort=cohort_key(1, members.cohort_shard(applicant_id)),
            state=MembershipState.ACTIVE.value,
            accepted_at=T0 - 40 * DAY,
            first_purchase_deadline=T0 - 10 * DAY,
            first_completed_at=T0 - 5 * DAY,
            first_reviewed_at=reviewed_at,
            updated_at=T0 - 5 * DAY,
            payout_provider="OVO",
            payout_account_sealed=personal_data.seal_text(account, applicant_id, Purpose.PAYOUT_ACCOUNT),
            payout_account_last4=account[-4:],
            payout_status=PayoutAccountStatus.VERIFIED.value if verified_at else PayoutAccountStatus.PENDING.value,
            payout_verified_at=verified_at,
            payout_check_id=f"check-{n}",
            payout_account_hash=incentive_payments.payout_account_hash("OVO", account),
        ).save()
        self.people.append({**person, "occupation": occupation, "student": False, "past_recipient": False})
        self.accounts.append(
            {
                "provider": "OVO",
                "account_number": account,
                "holder_name": person["full_name"],
                "nik": person["nik"],
                "kyc": kyc,
                "status": "ACTIVE",
            }
        )
        self.write()
        return applicant_id

    def write(self) -> None:
        rows = [{**p, "social_aid": False} for p in self.people]
        local_registry.write_csv(
            self.registry.stand_in.csv_path, [{k: r[k] for k in local_registry.COLUMNS.names} for r in rows]
        )
        local_provider.write_csv(self.provider.stand_in.csv_path, self.accounts)


@pytest.fixture
def people(services: tuple[RegistryServer, ProviderServer]) -> People:
    return People(*services)


def pinned(applicant_id: str) -> PinnedAccount:
    """The member's payout account as a payment is pinned to it (it must be verified)."""
    member = payout_accounts.find(applicant_id)
    assert member is not None and member.account is not None and member.account.pinned is not None
    return member.account.pinned


def change_account_in_store(applicant_id: str, provider: str, number: str, check_id: str) -> None:
    """The member's account changed as `PUT .../payout-account` changes it (PENDING under a new check id), with
    the one-time code the member was sent."""
    code = IssuedCode(f"code-{check_id}", "-", T0, T0 + DAY, sealed="-")
    assert payout_accounts.issue_code(applicant_id, code)
    changed = payout_accounts.change(
        applicant_id,
        check_id,
        code.code_id,
        provider=provider,
        sealed_number=personal_data.seal_text(number, applicant_id, Purpose.PAYOUT_ACCOUNT),
        last4=number[-4:],
        account_hash=incentive_payments.payout_account_hash(provider, number),
        now=T0,
    )
    assert changed is payout_accounts.Changed.DONE


def payout_check(applicant_id: str, check_id: str) -> None:
    """The provider's inquiry for that change, through the payout-check consumer."""
    request = PayoutCheckRequest(applicant_id=applicant_id, check_id=check_id)
    boto3.client("sqs").send_message(QueueUrl=settings().payout_checks_queue_url, MessageBody=request.model_dump_json())
    run_consumers("payout_check_consumer", "notification_consumer")


def run_schedule(at: dt.datetime) -> list[int]:
    result: list[int] = queue_due_incentives(scheduled_event(SCHEDULE, at), None)
    run_consumers(*CONSUMERS)
    return result


def statuses(applicant_id: str) -> list[tuple[int, PaymentStatus]]:
    return [(p.number, p.status) for p in payments.of_member(applicant_id)]


def outbox(kind: str) -> list[dict[str, Any]]:
    path = Path(settings().outbox_path)
    lines = path.read_text().splitlines() if path.exists() else []
    return [m for m in map(json.loads, lines) if m["kind"] == kind]


def paid_at_provider(provider: ProviderServer) -> int:
    return int(provider.stand_in.stats()["paid"])


def test_the_first_is_due_after_completion_review_and_account_then_every_30_days_four_in_all(
    people: People, payment_provider_service: ProviderServer
) -> None:
    # Given a member with everything done at T0, one who has not reviewed, one whose account is not verified
    earner = people.add()
    unreviewed = people.add(reviewed_at=None)
    unverified = people.add(verified_at=None)

    # When the schedule runs before anything is due, nothing is paid
    assert run_schedule(T0 - DAY) == [1]
    assert statuses(earner) == []

    # Then at T0 the first incentive is paid, with its ledger entry and a notice
    run_schedule(T0)
    assert statuses(earner) == [(1, PaymentStatus.PAID)]
    assert statuses(unreviewed) == statuses(unverified) == []
    assert ("incentive#1", LedgerKind.INCENTIVE, AMOUNT) in [e[:3] for e in members.entries(earner)]

    # Each next one 30 days after the previous: nothing on day 29, the second on day 30; the schedule run twice
    # the same day pays nothing twice
    run_schedule(T0 + 29 * DAY)
    assert len(statuses(earner)) == 1
    run_schedule(T0 + 30 * DAY)
    run_schedule(T0 + 30 * DAY)
    assert statuses(earner) == [(1, PaymentStatus.PAID), (2, PaymentStatus.PAID)]
    assert MemberRecord.get(earner).state == "ACTIVE"  # completed only by the last
    # A missed day is caught up, and no more than four are ever paid
    for day in (61, 95, 200):
        run_schedule(T0 + day * DAY)
    assert statuses(earner) == [(n, PaymentStatus.PAID) for n in (1, 2, 3, 4)]
    member = MemberRecord.get(earner)
    assert int(member.incentives_settled) == 4
    assert member.payment_in_flight is None
    assert member.state == "COMPLETED"  # the last incentive completes the membership
    assert members.ledger_totals()[LedgerKind.INCENTIVE] == 4 * AMOUNT
    assert paid_at_provider(payment_provider_service) == 4
    assert funnel.funnel_totals(INCENTIVE_STAGES) == dict.fromkeys(INCENTIVE_STAGES, 1)  # each counted once
    told = outbox("incentive_paid")
    assert sorted(m["number"] for m in told if m["applicant_id"] == earner) == [1, 2, 3, 4]
    assert not any("081234" in json.dumps(m) for m in told)  # never the account number


def test_a_member_now_barred_is_held_with_the_reason_and_told_once(
    people: People, payment_provider_service: ProviderServer
) -> None:
    # Given a member who has since become a civil servant
    barred = people.add(occupation="ASN")

    # When the incentive falls due
    run_schedule(T0)
    run_schedule(T0 + DAY)

    # Then it is HELD with the reason, nothing is sent, and the member is told once by email and SMS
    (payment,) = payments.of_member(barred)
    assert (payment.status, payment.reason) == (PaymentStatus.HELD, "BARRED_OCCUPATION")
    assert paid_at_provider(payment_provider_service) == 0
    assert MemberRecord.get(barred).payment_in_flight is None
    assert funnel.funnel_totals([FunnelStage.HELD]) == {FunnelStage.HELD: 1}
    told = [m for m in outbox("incentive_held") if m["applicant_id"] == barred]
    assert sorted(m["channel"] for m in told) == ["email", "sms"]


def test_a_failed_payment_goes_again_once_the_account_is_verified_again(
    people: People, payment_provider_service: ProviderServer
) -> None:
    # Given a member whose e-wallet has lost its KYC
    member = people.add(kyc=False)
    run_schedule(T0)
    (failed,) = payments.of_member(member)
    assert (failed.status, failed.reason) == (PaymentStatus.FAILED, "NOT_KYC")
    assert MemberRecord.get(member).payment_in_flight is None  # the account may change now
    assert [m["reason"] for m in outbox("incentive_failed") if m["channel"] == "sms"] == ["NOT_KYC"]
    run_schedule(T0 + DAY)  # waits for the account: not queued again by the schedule
    assert statuses(member) == [(1, PaymentStatus.FAILED)]

    # When the member fixes it and the account is verified again
    people.accounts[-1]["kyc"] = True
    people.write()
    assert incentive_payments.account_verified(member, pinned(member)) == [payment_id(member, 1)]
    assert MemberRecord.get(member).payment_in_flight == payment_id(member, 1)
    run_consumers(*CONSUMERS)

    # Then it is paid, once
    (paid,) = payments.of_member(member)
    assert (paid.status, paid.attempt, paid.reason) == (PaymentStatus.PAID, 2, None)
    assert paid_at_provider(payment_provider_service) == 1
    assert incentive_payments.account_verified(member, pinned(member)) == []


def _queued(people: People) -> str:
    member = people.add()
    assert payments.queue(member, 1, account=pinned(member), amount=AMOUNT, due_at=T0, now=T0)
    return payment_id(member, 1)


def _deliver(found_id: str) -> dict[str, Any]:
    body = PaymentRequest(payment_id=found_id).model_dump_json()
    answer: dict[str, Any] = payment_consumer(sqs_event(body), FakeLambdaContext())
    return answer


def test_a_revocation_between_the_read_and_the_last_payments_write_stays_a_revocation(
    people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the member's last incentive SENT, and the state read as ACTIVE just before an admin revokes it
    member = people.add()
    MemberRecord(applicant_id=member).update(actions=[MemberRecord.incentives_settled.set(3)])
    assert payments.queue(member, 4, account=pinned(member), amount=AMOUNT, due_at=T0, now=T0)
    last = payments.find(payment_id(member, 4))
    assert last is not None and payments.send(last, T0)
    reads = iter([MembershipState.ACTIVE])
    real_read = payments.payment_member_state

    def read_then_revoked(payment: Any) -> MembershipState | None:
        stale = next(reads, None)
        if stale is None:
            return real_read(payment)
        MemberRecord(applicant_id=member).update(actions=[MemberRecord.state.set(MembershipState.REVOKED.value)])
        return stale

    monkeypatch.setattr(payments, "payment_member_state", read_then_revoked)

    # When the provider's answer is recorded
    assert payments.pay(last, T0, T0, last=True)

    # Then it is paid once, and the member stays revoked rather than completed over the revocation
    assert payments.find(last.payment_id).status is PaymentStatus.PAID  # type: ignore[union-attr]
    found = members.find(member)
    assert found is not None and found.state is MembershipState.REVOKED
    assert [e[0] for e in members.entries(member) if e[1] is LedgerKind.INCENTIVE] == ["incentive#4"]


def test_duplicate_deliveries_pay_once(people: People, payment_provider_service: ProviderServer) -> None:
    found_id = _queued(people)
    sqs = boto3.client("sqs")
    for _ in range(3):
        sqs.send_message(
            QueueUrl=settings().payments_queue_url, MessageBody=PaymentRequest(payment_id=found_id).model_dump_json()
        )
    run_consumers(*CONSUMERS)
    assert _deliver(found_id) == {"batchItemFailures": []}
    assert paid_at_provider(payment_provider_service) == 1
    assert [e[0] for e in members.entries(found_id.split("-")[0]) if e[1] is LedgerKind.INCENTIVE] == ["incentive#1"]
    assert len([m for m in outbox("incentive_paid") if m["channel"] == "email"]) == 1


def test_a_crash_between_the_answer_and_our_write_is_recorded_from_the_provider_not_paid_again(
    people: People, payment_provider_service: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    found_id = _queued(people)

    def crashed(*_: Any) -> bool:
        raise RuntimeError("the consumer stopped after the provider answered")

    with monkeypatch.context() as patched:
        patched.setattr(payments, "pay", crashed)
        with pytest.raises(BatchProcessingError):  # the batch's one record failed: SQS brings it back
            _deliver(found_id)
    assert payments.find(found_id).status is PaymentStatus.SENT  # type: ignore[union-attr]
    assert paid_at_provider(payment_provider_service) == 1

    # The redelivery asks the provider by the payment id and records what it paid
    transfers = payment_provider_service.stand_in.requests
    assert _deliver(found_id) == {"batchItemFailures": []}
    assert payments.find(found_id).status is PaymentStatus.PAID  # type: ignore[union-attr]
    assert paid_at_provider(payment_provider_service) == 1
    assert payment_provider_service.stand_in.requests == transfers + 1  # one status query, no transfer


def test_a_timeout_after_the_provider_took_the_transfer_pays_once(
    people: People, payment_provider_service: ProviderServer
) -> None:
    found_id = _queued(people)
    payment_provider_service.stand_in.control({"mode": local_provider.TIMEOUT_AFTER_COMMIT, "hang_ms": 1000})
    with pytest.raises(BatchProcessingError):  # the outcome is unknown: SQS brings it back
        _deliver(found_id)
    assert payments.find(found_id).status is PaymentStatus.SENT  # type: ignore[union-attr]
    payment_provider_service.stand_in.control({"mode": "up"})

    assert _deliver(found_id) == {"batchItemFailures": []}
    assert payments.find(found_id).status is PaymentStatus.PAID  # type: ignore[union-attr]
    assert paid_at_provider(payment_provider_service) == 1
    assert MemberRecord.get(found_id.split("-")[0]).payment_in_flight is None


def test_a_payment_stranded_by_an_outage_longer_than_its_retries_is_paid_once_by_the_next_days_run(
    people: People, payment_provider_service: ProviderServer
) -> None:
    # Given a payment sent while the provider was down, its message out of tries (dead-lettered, not redelivered)
    found_id = _queued(people)
    payment_provider_service.stand_in.control({"mode": "down"})
    with pytest.raises(BatchProcessingError):
        _deliver(found_id)
    assert payments.find(found_id).status is PaymentStatus.SENT  # type: ignore[union-attr]
    payment_provider_service.stand_in.control({"mode": "up"})

    # When the next day's schedule runs
    run_schedule(T0 + DAY)

    # Then the payment is queued again and paid, once
    assert payments.find(found_id).status is PaymentStatus.PAID  # type: ignore[union-attr]
    assert paid_at_provider(payment_provider_service) == 1
    assert MemberRecord.get(found_id.split("-")[0]).payment_in_flight is None


def test_reconciliation_is_clean_then_catches_a_difference_on_either_side(
    people: People, payment_provider_service: ProviderServer
) -> None:
    # Given a payment made today (the provider's clock)
    found_id = _queued(people)
    _deliver(found_id)
    paid = payments.find(found_id)
    assert paid is not None and paid.paid_at is not None
    day = dt.date.fromisoformat(paid_day(paid.paid_at))
    now = paid.paid_at + DAY

    # The reconciliation of that day finds no difference
    clean = incentive_payments.reconcile_day(day, now)
    assert clean["differences"] == [] and clean["provider"] == clean["ours"] == {"count": 1, "amount": AMOUNT}

    # When a transfer is made directly at the provider, and a payment is marked PAID here only
    account = people.accounts[-1]
    payment_provider(1).transfer("made-at-the-provider", "OVO", account["account_number"], AMOUNT, "direct")
    PaymentRecord(
        payment_id="ours-only", applicant_id="x", number=1, amount=AMOUNT, status="PAID", paid_day=day.isoformat()
    ).save()

    # Then both are listed, and the admin ledger shows the last reconciliation and the incentives
    report = incentive_payments.reconcile_day(day, now)
    assert {(d["payment_id"], d["kind"]) for d in report["differences"]} == {
        ("made-at-the-provider", "PAID_THERE_NOT_HERE"),
        ("ours-only", "PAID_HERE_NOT_THERE"),
    }
    shown = membership.ledger_incentives()
    assert shown["last_reconciliation"] == report
    assert shown["incentives"]["paid"] == {"count": 2, "amount": 2 * AMOUNT}
    assert shown["incentives"]["due"] == {"count": 0, "amount": 0}
    assert "081234" not in json.dumps(report)

    # And a catch-up of an older day leaves the last reconciliation shown as it was
    incentive_payments.reconcile_day(day - DAY, now)
    assert membership.ledger_incentives()["last_reconciliation"] == report


def test_an_account_changed_during_the_screening_is_never_paid_until_it_is_verified(
    people: People, payment_provider_service: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a member due its first incentive on a verified account, and another person's KYC'd account at the
    # provider (the review's reproduction: the new account is not the member's)
    member = people.add()
    own = people.accounts[-1]
    stranger = people.add(verified_at=None)
    foreign = people.accounts[-1]
    verified = pinned(member)

    # When the member's account changes to the stranger's while the daily run screens the member
    real_screen = incentive_payments._screen

    def screen_while_the_account_changes(applicant_id: str, today: dt.date) -> str | None:
        if applicant_id == member:
            change_account_in_store(member, foreign["provider"], foreign["account_number"], "check-changed")
        return real_screen(applicant_id, today)

    monkeypatch.setattr(incentive_payments, "_screen", screen_while_the_account_changes)
    run_schedule(T0)

    # Then nothing is sent to the new, unverified account: the payment pinned to the verified one fails
    # ACCOUNT_CHANGED, and the member is told
    payment = payments.find(payment_id(member, 1))
    assert payment is not None and payment.account == verified
    assert (payment.status, payment.reason) == (PaymentStatus.FAILED, "ACCOUNT_CHANGED")
    assert paid_at_provider(payment_provider_service) == 0
    assert [m["reason"] for m in outbox("incentive_failed") if m["applicant_id"] == member][:1] == ["ACCOUNT_CHANGED"]

    # And the provider's check then refuses the stranger's account (not the member's NIK): still nothing paid
    payout_check(member, "check-changed")
    assert payout_accounts.find(member).account.status is PayoutAccountStatus.REJECTED  # type: ignore[union-attr]
    assert paid_at_provider(payment_provider_service) == 0
    assert MemberRecord.get(stranger).payment_in_flight is None

    # When the member puts its own account back and the provider verifies it, the payment goes again, pinned to
    # that account, and is paid once, there
    change_account_in_store(member, own["provider"], own["account_number"], "check-own")
    payout_check(member, "check-own")
    run_consumers(*CONSUMERS)
    paid = payments.find(payment_id(member, 1))
    assert paid is not None and (paid.status, paid.attempt) == (PaymentStatus.PAID, 2)
    assert paid.account is not None and paid.account.check_id == "check-own"
    (line,) = payment_provider_service.stand_in.paid
    assert (line.idempotency_key, line.account_number) == (payment_id(member, 1), own["account_number"])

    # And the reconciliation of that day compares the account paid as well as the amount: clean
    assert line.paid_at is not None
    report = incentive_payments.reconcile_day(dt.date.fromisoformat(paid_day(line.paid_at)), T0 + DAY)
    assert report["differences"] == []
