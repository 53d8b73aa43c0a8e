"""The civil registry's and the payment provider's requests-per-second ceilings hold when every consumer that calls
them runs at its maximum concurrency: each container's bucket is its caller's share, split among its containers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions.adapters.civil_registry import HttpCivilRegistry, registry, screening_registry
from functions.adapters.payment_provider import HttpPaymentProvider
from functions.resources import (
    INCENTIVE_MAX_CONCURRENCY,
    NIK_CHECK_MAX_CONCURRENCY,
    PAYMENT_MAX_CONCURRENCY,
    PAYOUT_CHECK_MAX_CONCURRENCY,
)
from functions.services import incentive_payments, payout_accounts
from tests.helpers import reset_app_state


@pytest.fixture(autouse=True)
def ceilings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PRAKERJA_REGISTRY_REQUESTS_PER_SECOND", "50")
    monkeypatch.setenv("PRAKERJA_PAYMENT_PROVIDER_REQUESTS_PER_SECOND", "20")
    reset_app_state()
    yield
    reset_app_state()


def rate(client: object) -> float:
    assert isinstance(client, HttpCivilRegistry | HttpPaymentProvider)
    return client.bucket.rate


def test_nik_checks_and_the_incentive_screening_together_stay_under_the_registrys_ceiling() -> None:
    nik_checks = NIK_CHECK_MAX_CONCURRENCY * rate(registry())
    screening = INCENTIVE_MAX_CONCURRENCY * rate(screening_registry())
    assert nik_checks + screening == pytest.approx(50)
    assert nik_checks > screening > 0  # a launch's backlog of NIK checks keeps most of it


def test_payments_and_account_checks_together_stay_under_the_providers_ceiling() -> None:
    payments = PAYMENT_MAX_CONCURRENCY * rate(incentive_payments.payments_provider())
    account_checks = PAYOUT_CHECK_MAX_CONCURRENCY * rate(payout_accounts.inquiry_provider())
    assert payments + account_checks == pytest.approx(20)
    assert payments > 0 and account_checks > 0
