"""What the payment provider tells us, as the programme's values: the holder of a payout account (its account inquiry),
the outcome of a transfer, and a line of its statement (docs/architecture.md, "After acceptance": payout accounts and
payments).

A payout account is an e-wallet or bank account whose holder name and NIK the provider confirms, KYC-verified and
not blocked; `account_check` says why one is refused. Transfers are keyed by an idempotency key of ours (the
payment id): whatever happens on the way, the provider moves money at most once for a key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from functions.domain.errors import ErrorCode
from functions.domain.identity import FieldProblem, names_match

# Bank account numbers run from 10 to 16 digits; an e-wallet's number is its phone number (08..., 10 to 13 digits).
ACCOUNT_NUMBER_MIN_DIGITS = 8
ACCOUNT_NUMBER_MAX_DIGITS = 20


def valid_account_number(value: str) -> str:
    """A payout account's number as the member gives it: digits only. The message never repeats it."""
    if not (
        value.isascii() and value.isdigit() and ACCOUNT_NUMBER_MIN_DIGITS <= len(value) <= ACCOUNT_NUMBER_MAX_DIGITS
    ):
        raise FieldProblem(
            ErrorCode.INVALID_ACCOUNT_NUMBER,
            f"account_number must be {ACCOUNT_NUMBER_MIN_DIGITS} to {ACCOUNT_NUMBER_MAX_DIGITS} digits "
            "(an e-wallet's is its phone number, 08...)",
        )
    return value


def last4(account_number: str) -> str:
    """All that answers, notices and logs ever show of an account number."""
    return account_number[-4:]


class AccountStatus(StrEnum):
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"


@dataclass(frozen=True)
class AccountInquiry:
    """The provider's record of one account: whose it is, whether its holder passed KYC, whether it can receive."""

    provider: str
    account_number: str
    holder_name: str
    nik: str
    kyc: bool
    status: AccountStatus


class AccountRejection(StrEnum):
    """Why a payout account is refused, in the order it is checked: whose account it is first, then whether it
    can receive money. A provider's transfer to an unusable account fails with one of the last three too."""

    NOT_FOUND = "NOT_FOUND"
    NIK_MISMATCH = "NIK_MISMATCH"
    NAME_MISMATCH = "NAME_MISMATCH"
    NOT_KYC = "NOT_KYC"
    BLOCKED = "BLOCKED"


def account_check(holder_name: str, nik: str, inquiry: AccountInquiry | None) -> AccountRejection | None:
    """None when the account is the member's and can receive a payment; else the reason it is refused. The name
    is compared as the NIK check compares it (case and spacing ignored)."""
    if inquiry is None:
        return AccountRejection.NOT_FOUND
    if inquiry.nik != nik:
        return AccountRejection.NIK_MISMATCH
    if not names_match(holder_name, inquiry.holder_name):
        return AccountRejection.NAME_MISMATCH
    return transfer_refusal(inquiry)


def transfer_refusal(inquiry: AccountInquiry | None) -> AccountRejection | None:
    """Why no money can be sent to this account, whoever holds it; None when it can receive."""
    if inquiry is None:
        return AccountRejection.NOT_FOUND
    if not inquiry.kyc:
        return AccountRejection.NOT_KYC
    if inquiry.status is AccountStatus.BLOCKED:
        return AccountRejection.BLOCKED
    return None


class TransferStatus(StrEnum):
    PAID = "PAID"
    FAILED = "FAILED"


@dataclass(frozen=True)
class TransferResult:
    """What the provider holds for one idempotency key. PAID is final: the key has moved money and never moves
    more. FAILED (with the provider's reason) moved nothing, so the same key may be sent again once the account
    is fixed."""

    idempotency_key: str
    status: TransferStatus
    amount: int
    reason: str | None = None
    paid_at: dt.datetime | None = None

    @property
    def paid(self) -> bool:
        return self.status is TransferStatus.PAID


@dataclass(frozen=True)
class StatementLine:
    """One payment the provider made: what reconciliation compares with our PAID payments."""

    idempotency_key: str
    provider: str
    account_number: str
    amount: int
    paid_at: dt.datetime
