"""The provider's answers as the programme's values: which payout account is the member's and can receive money, and
what a transfer's outcome says (functions/domain/payments.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.payments import (
    AccountInquiry,
    AccountRejection,
    AccountStatus,
    TransferResult,
    TransferStatus,
    account_check,
    transfer_refusal,
)

MEMBER_NAME = "Siti Aminah"
MEMBER_NIK = "3171015708950001"
ACCOUNT = AccountInquiry(
    provider="OVO",
    account_number="081234567890",
    holder_name="SITI AMINAH",
    nik=MEMBER_NIK,
    kyc=True,
    status=AccountStatus.ACTIVE,
)


def test_the_members_own_usable_account_passes() -> None:
    assert account_check(MEMBER_NAME, MEMBER_NIK, ACCOUNT) is None
    assert transfer_refusal(ACCOUNT) is None


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        (None, AccountRejection.NOT_FOUND),
        (dataclasses.replace(ACCOUNT, nik="3171015708950002"), AccountRejection.NIK_MISMATCH),
        (dataclasses.replace(ACCOUNT, holder_name="Siti Aminah Putri"), AccountRejection.NAME_MISMATCH),
        (dataclasses.replace(ACCOUNT, kyc=False), AccountRejection.NOT_KYC),
        (dataclasses.replace(ACCOUNT, status=AccountStatus.BLOCKED), AccountRejection.BLOCKED),
        # whose account it is comes first: someone else's blocked account is someone else's
        (
            dataclasses.replace(ACCOUNT, nik="3171015708950002", status=AccountStatus.BLOCKED),
            AccountRejection.NIK_MISMATCH,
        ),
        (dataclasses.replace(ACCOUNT, holder_name="Budi", kyc=False), AccountRejection.NAME_MISMATCH),
    ],
)
def test_an_account_is_refused_with_the_briefs_reason(account: AccountInquiry | None, reason: AccountRejection) -> None:
    assert account_check(MEMBER_NAME, MEMBER_NIK, account) == reason


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        (None, AccountRejection.NOT_FOUND),
        (dataclasses.replace(ACCOUNT, kyc=False), AccountRejection.NOT_KYC),
        (dataclasses.replace(ACCOUNT, status=AccountStatus.BLOCKED), AccountRejection.BLOCKED),
        (dataclasses.replace(ACCOUNT, holder_name="Budi", nik="3171015708950002"), None),  # whoever holds it
    ],
)
def test_a_transfer_is_refused_only_for_an_account_that_cannot_receive(
    account: AccountInquiry | None, reason: AccountRejection | None
) -> None:
    assert transfer_refusal(account) == reason


@given(
    st.lists(st.sampled_from([str.upper, str.lower, str.title, str.casefold]), min_size=2, max_size=2),
    st.lists(st.sampled_from([" ", "  ", "\t"]), min_size=3, max_size=3),
)
def test_the_holder_name_matches_whatever_its_case_and_spacing(
    cases: list[Callable[[str], str]], spaces: list[str]
) -> None:
    # Given the provider's spelling of the member's name with other case and spacing, then it is the member's
    first, last = (change(part) for change, part in zip(cases, MEMBER_NAME.split(), strict=True))
    holder = f"{spaces[0]}{first}{spaces[1]}{last}{spaces[2]}"
    assert account_check(MEMBER_NAME, MEMBER_NIK, dataclasses.replace(ACCOUNT, holder_name=holder)) is None


def test_only_a_paid_transfer_is_paid() -> None:
    paid = TransferResult("payment-1", TransferStatus.PAID, 600_000, paid_at=dt.datetime(2020, 5, 1, tzinfo=dt.UTC))
    failed = TransferResult("payment-2", TransferStatus.FAILED, 600_000, reason=AccountRejection.NOT_KYC)
    assert paid.paid and not failed.paid


def test_a_malformed_answer_from_the_provider_names_where_never_what() -> None:
    from functions.adapters.payment_provider import parsed

    # Given an inquiry answer with a KYC flag and a status the provider's protocol does not have
    answer = json.dumps({**dataclasses.asdict(ACCOUNT), "kyc": "perhaps", "status": "GONE"}).encode()
    with pytest.raises(ValueError, match="malformed at kyc, status") as refused:
        parsed(AccountInquiry, answer)
    # Then the error, which a consumer may log, quotes no account number, NIK or name
    message = str(refused.value)
    assert all(value not in message for value in (ACCOUNT.account_number, ACCOUNT.nik, ACCOUNT.holder_name, "perhaps"))
