"""The payment-provider client against the local payment provider, a real HTTP service on a free port: account
inquiries, transfers paid once per idempotency key, the statement, and each fault the service can play."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
import urllib3

from devstack import payment_provider as local_provider
from devstack.payment_provider import ProviderServer, write_csv
from functions.adapters.payment_provider import (
    PaymentProvider,
    ProviderUnavailable,
    TransferOutcomeUnknown,
    payment_provider,
)
from functions.domain.payments import AccountInquiry, AccountRejection, AccountStatus, TransferStatus
from functions.settings import settings
from tests.helpers import reset_app_state

INCENTIVE = 600_000
SITI: dict[str, Any] = {
    "provider": "OVO",
    "account_number": "081234567890",
    "holder_name": "Siti Aminah",
    "nik": "3171015708950001",
    "kyc": True,
    "status": "ACTIVE",
}
BUDI = {**SITI, "provider": "BNI", "account_number": "0123456789", "holder_name": "Budi Santoso", "kyc": False}
RINA = {**SITI, "provider": "DANA", "account_number": "085700001111", "holder_name": "Rina", "status": "BLOCKED"}


@pytest.fixture
def provider(payment_provider_service: ProviderServer) -> PaymentProvider:
    write_csv(payment_provider_service.stand_in.csv_path, [SITI, BUDI, RINA])
    return payment_provider(1)


def control(service: ProviderServer, **change: Any) -> dict[str, Any]:
    """Switches the running service through `POST /_control`, as the local stack and its tests do."""
    answer = urllib3.request(
        "POST",
        f"http://127.0.0.1:{service.server_address[1]}/_control",
        body=json.dumps(change).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 200
    stats: dict[str, Any] = answer.json()
    return stats


def requests_served(service: ProviderServer) -> int:
    return service.stand_in.requests


def kyc(provider: PaymentProvider, account: dict[str, Any]) -> bool | None:
    found = provider.inquire(account["provider"], account["account_number"])
    return None if found is None else found.kyc


def pay(provider: PaymentProvider, key: str, account: dict[str, Any] = SITI) -> Any:
    return provider.transfer(key, account["provider"], account["account_number"], INCENTIVE, "Insentif Prakerja 1")


# --- account inquiries ---------------------------------------------------------------------------------------


def test_an_inquiry_answers_the_providers_record_of_the_account(provider: PaymentProvider) -> None:
    assert provider.inquire("ovo", "081234567890") == AccountInquiry(  # the provider's code in any case
        "OVO", "081234567890", "Siti Aminah", "3171015708950001", kyc=True, status=AccountStatus.ACTIVE
    )
    assert provider.inquire("OVO", "089999999999") is None
    blocked = provider.inquire("DANA", "085700001111")
    assert blocked is not None and blocked.status is AccountStatus.BLOCKED
    assert kyc(provider, BUDI) is False


def test_the_accounts_are_read_again_when_the_file_changes(
    provider: PaymentProvider, payment_provider_service: ProviderServer
) -> None:
    assert kyc(provider, BUDI) is False
    # When the holder completes KYC at the provider (the file rewritten while the service runs)
    time.sleep(0.01)  # a new modification time
    write_csv(payment_provider_service.stand_in.csv_path, [SITI, {**BUDI, "kyc": True}])
    assert kyc(provider, BUDI) is True
    assert provider.inquire("DANA", "085700001111") is None


# --- transfers -----------------------------------------------------------------------------------------------


def test_a_transfer_is_paid_once_per_idempotency_key(
    provider: PaymentProvider, payment_provider_service: ProviderServer
) -> None:
    # Given a payment sent twice with the same key (a duplicate delivery)
    first = pay(provider, "payment-siti-1")
    again = pay(provider, "payment-siti-1")
    # Then the money moved once, and the second answer is the first
    assert first.status is TransferStatus.PAID and first.amount == INCENTIVE and first.paid_at is not None
    assert again == first
    assert provider.transfer_status("payment-siti-1") == first
    lines = provider.statement(since=first.paid_at - dt.timedelta(minutes=1))
    assert [(line.idempotency_key, line.account_number, line.amount) for line in lines] == [
        ("payment-siti-1", "081234567890", INCENTIVE)
    ]
    assert control(payment_provider_service)["paid_amount"] == INCENTIVE
    # And a key it never took is unknown to it
    assert provider.transfer_status("payment-siti-2") is None


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        ({**SITI, "account_number": "089999999999"}, AccountRejection.NOT_FOUND),
        (BUDI, AccountRejection.NOT_KYC),
        (RINA, AccountRejection.BLOCKED),
    ],
)
def test_a_transfer_to_an_account_that_cannot_receive_fails_with_the_reason(
    provider: PaymentProvider, payment_provider_service: ProviderServer, account: dict[str, Any], reason: str
) -> None:
    failed = pay(provider, "payment-1", account)
    assert (failed.status, failed.reason, failed.paid_at) == (TransferStatus.FAILED, reason, None)
    assert provider.transfer_status("payment-1") == failed
    assert payment_provider_service.stand_in.paid == []


def test_a_failed_payments_key_pays_once_the_account_is_fixed(
    provider: PaymentProvider, payment_provider_service: ProviderServer
) -> None:
    # Given a payment that failed for a non-KYC account
    assert pay(provider, "payment-budi-1", BUDI).status is TransferStatus.FAILED
    # When the holder completes KYC and the payment is sent again with its key
    time.sleep(0.01)
    write_csv(payment_provider_service.stand_in.csv_path, [{**BUDI, "kyc": True}])
    paid = pay(provider, "payment-budi-1", BUDI)
    # Then it is paid, once
    assert paid.status is TransferStatus.PAID
    assert pay(provider, "payment-budi-1", BUDI) == paid
    assert [transfer.idempotency_key for transfer in payment_provider_service.stand_in.paid] == ["payment-budi-1"]


def test_the_statement_lists_what_was_paid_between_two_moments_page_by_page(
    provider: PaymentProvider, payment_provider_service: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_provider, "STATEMENT_PAGE", 2)
    may_1, may_2 = dt.datetime(2020, 5, 1, 2, tzinfo=dt.UTC), dt.datetime(2020, 5, 2, 2, tzinfo=dt.UTC)
    # Given three payments on the provider's 1 May and two on its 2 May (its clock set, as the scheduler's is)
    control(payment_provider_service, now=may_1.isoformat())
    for number in range(3):
        pay(provider, f"may-1-{number}")
    control(payment_provider_service, now=may_2.isoformat())
    for number in range(2):
        pay(provider, f"may-2-{number}")
    # Then each day's statement holds that day's payments, in order, over several pages
    assert [line.idempotency_key for line in provider.statement(may_1, until=may_2)] == [
        "may-1-0",
        "may-1-1",
        "may-1-2",
    ]
    later = provider.statement(may_2)
    assert [line.idempotency_key for line in later] == ["may-2-0", "may-2-1"]
    assert all(may_2 <= line.paid_at < may_2 + dt.timedelta(minutes=1) for line in later)


# --- faults --------------------------------------------------------------------------------------------------


def test_a_slow_provider_within_the_timeout_still_answers(
    provider: PaymentProvider, payment_provider_service: ProviderServer
) -> None:
    control(payment_provider_service, mode="slow", slow_ms=100)
    started = time.monotonic()
    assert provider.inquire("OVO", "081234567890") is not None
    assert pay(provider, "payment-slow").status is TransferStatus.PAID
    assert time.monotonic() - started >= 0.2
    assert requests_served(payment_provider_service) == 2  # nothing timed out, nothing was sent again


def test_a_provider_that_is_down_opens_the_circuit(
    provider: PaymentProvider, payment_provider_service: ProviderServer
) -> None:
    # Given a provider that drops every connection
    control(payment_provider_service, mode="down", reset_stats=True)
    for _ in range(10):
        with pytest.raises(ProviderUnavailable):
            provider.inquire("OVO", "081234567890")
    # Then after three failed calls (each tried once more) the breaker stops calling it
    current = settings()
    assert requests_served(payment_provider_service) == 3 * (current.payment_provider_retries + 1)
    # And a transfer is not even sent: nothing was taken, so it is unavailable rather than unknown
    with pytest.raises(ProviderUnavailable):
        pay(provider, "payment-while-down")
    assert requests_served(payment_provider_service) == 3 * (current.payment_provider_retries + 1)


def test_an_open_circuit_fails_at_once_without_waiting_for_the_ceiling(
    provider: PaymentProvider, payment_provider_service: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a provider that is down, and the client's ceiling counting what it lets through
    control(payment_provider_service, mode="down", reset_stats=True)
    tokens = []
    acquire = provider.bucket.acquire
    monkeypatch.setattr(provider.bucket, "acquire", lambda: tokens.append(1) or acquire())
    for _ in range(3):  # the failures that open the circuit
        with pytest.raises(ProviderUnavailable):
            provider.transfer_status("payment-in-an-outage")
    assert len(tokens) == 3
    # When more calls come while the circuit is open
    for _ in range(20):
        with pytest.raises(ProviderUnavailable, match="circuit is open"):
            provider.transfer_status("payment-in-an-outage")
    # Then none of them waited for a token: they sent nothing
    assert len(tokens) == 3


def test_an_erroring_provider_gets_reads_retried_but_a_transfer_sent_once(
    provider: PaymentProvider, payment_provider_service: ProviderServer
) -> None:
    control(payment_provider_service, mode="error", reset_stats=True)
    retries = settings().payment_provider_retries
    # A read changes nothing: it is tried again, with backoff
    with pytest.raises(ProviderUnavailable):
        provider.inquire("OVO", "081234567890")
    assert requests_served(payment_provider_service) == retries + 1
    # A transfer is sent once, and its outcome is unknown to the caller
    with pytest.raises(TransferOutcomeUnknown):
        pay(provider, "payment-error")
    assert requests_served(payment_provider_service) == retries + 2
    # Once the provider is back, asking by the key says it never took the transfer
    control(payment_provider_service, mode="up")
    assert provider.transfer_status("payment-error") is None


def test_a_transfer_taken_before_a_timeout_is_found_by_its_key_and_never_paid_again(
    provider: PaymentProvider, payment_provider_service: ProviderServer
) -> None:
    # Given a provider that takes the transfer and then does not answer until the client has given up
    control(payment_provider_service, mode=local_provider.TIMEOUT_AFTER_COMMIT, hang_ms=1000)
    with pytest.raises(TransferOutcomeUnknown):
        pay(provider, "payment-siti-2")
    # When the caller asks the provider by the idempotency key, then it was paid
    control(payment_provider_service, mode="up")
    held = provider.transfer_status("payment-siti-2")
    assert held is not None and held.status is TransferStatus.PAID
    # And sending it again with the same key pays nothing more
    assert pay(provider, "payment-siti-2") == held
    assert [transfer.idempotency_key for transfer in payment_provider_service.stand_in.paid] == ["payment-siti-2"]


def test_a_hanging_provider_times_a_transfer_out_without_taking_it(
    provider: PaymentProvider, payment_provider_service: ProviderServer
) -> None:
    control(payment_provider_service, mode="hang", hang_ms=1000)
    with pytest.raises(TransferOutcomeUnknown):
        pay(provider, "payment-hang")
    control(payment_provider_service, mode="up")
    assert provider.transfer_status("payment-hang") is None


def test_the_ceiling_on_requests_per_second_holds(
    payment_provider_service: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a ceiling of 20 calls a second shared by two containers: 10 a second for this one
    write_csv(payment_provider_service.stand_in.csv_path, [SITI])
    monkeypatch.setenv("PRAKERJA_PAYMENT_PROVIDER_REQUESTS_PER_SECOND", "20")
    reset_app_state()
    provider = payment_provider(2)
    # When eleven calls are made as fast as the client allows
    started = time.monotonic()
    for _ in range(11):
        provider.inquire("OVO", "081234567890")
    # Then they took at least a second (the first goes at once, ten more at ten a second)
    assert time.monotonic() - started >= 0.95
    assert requests_served(payment_provider_service) == 11


def test_the_service_logs_no_body(
    provider: PaymentProvider, payment_provider_service: ProviderServer, capfd: pytest.CaptureFixture[str]
) -> None:
    provider.inquire("OVO", SITI["account_number"])
    pay(provider, "payment-logged")
    provider.statement(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    written = capfd.readouterr()
    for secret in (SITI["account_number"], SITI["nik"], SITI["holder_name"]):
        assert secret not in written.out + written.err


def test_a_missing_accounts_file_holds_no_account(payment_provider_service: ProviderServer) -> None:
    payment_provider_service.stand_in.csv_path.unlink(missing_ok=True)
    assert payment_provider(1).inquire("OVO", "081234567890") is None
