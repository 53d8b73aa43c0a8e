"""A member's own view of its membership (part of `GET /applicants/{id}`) and the admin's view of the ledger
(`GET /admin/ledger`)."""

from __future__ import annotations

from typing import Any

from functions.domain.incentives import IN_FLIGHT, PaymentStatus, PayoutAccount
from functions.domain.membership import LedgerKind, LedgerTotals
from functions.store import members, payments, payout_accounts
from functions.store import purchases as purchase_store


def member_view(applicant_id: str) -> dict[str, Any] | None:
    """The membership of an accepted applicant: its state, balance, deadline and purchases. Never the card
    number here (the applicant's view shows it once, at the top)."""
    member = members.find(applicant_id)
    if member is None:
        return None
    payout = payout_accounts.find(applicant_id)
    return {
        "state": member.state.value,
        "reason": member.reason.value if member.reason else None,
        "balance": member.balance,
        "first_purchase_deadline": member.first_purchase_deadline.isoformat(),
        "purchases": [
            {
                "purchase_id": purchase.purchase_id,
                "partner_id": purchase.partner_id,
                "course_title": purchase.course_title,
                "price": purchase.price,
                "status": purchase.status.value,
                "completed_at": purchase.completed_at.isoformat() if purchase.completed_at else None,
            }
            for purchase in sorted(purchase_store.for_member(applicant_id), key=lambda found: found.created_at)
        ],
        "payout_account": payout_account_shown(payout.account) if payout and payout.account else None,
        "incentives": member_incentives(applicant_id),
    }


def payout_account_shown(account: PayoutAccount) -> dict[str, Any]:
    """The payout account as the member sees it: never more of the number than its last 4 digits."""
    return {
        "provider": account.provider,
        "last4": account.last4,
        "status": account.status.value,
        "reason": account.reason.value if account.reason else None,
    }


def ledger() -> dict[str, Any]:
    """The programme's ledger: each kind's total (from the counters every entry moves), the outstanding balance
    (the sum of the members' balances), and whether granted = balance + purchased - refunded + returned holds in
    total (counters against member records: two sources, so the check can fail) and for every member."""
    kinds = members.ledger_totals()
    summed = LedgerTotals()
    count = failing = 0
    for member in members.all_members():
        summed += member.totals
        count += 1
        failing += not member.totals.identity_holds()
    programme = LedgerTotals(
        granted=kinds[LedgerKind.GRANT],
        balance=summed.balance,
        purchased=kinds[LedgerKind.PURCHASE],
        refunded=kinds[LedgerKind.REFUND],
        returned=kinds[LedgerKind.RETURN],
    )
    return {
        "totals": {kind.value: amount for kind, amount in kinds.items()},
        "outstanding_balance": summed.balance,
        "members": count,
        "identity": {
            "holds": programme.identity_holds() and failing == 0,
            "holds_in_total": programme.identity_holds(),
            "members_where_it_fails": failing,
        },
        **ledger_incentives(),
    }


def ledger_incentives() -> dict[str, Any]:
    """`GET /admin/ledger`'s part: incentives due (queued or sent), paid, held and failed (count and amount), and
    the last reconciliation with its differences."""
    totals = payments.totals()
    due = [totals[status] for status in IN_FLIGHT]
    shown = {
        "due": (sum(count for count, _ in due), sum(amount for _, amount in due)),
        "paid": totals[PaymentStatus.PAID],
        "held": totals[PaymentStatus.HELD],
        "failed": totals[PaymentStatus.FAILED],
    }
    return {
        "incentives": {name: {"count": count, "amount": amount} for name, (count, amount) in shown.items()},
        "last_reconciliation": payments.latest_reconciliation(),
    }


def member_incentives(applicant_id: str) -> list[dict[str, Any]]:
    """The member view's `incentives`: number, amount, status, reason, paid_at."""
    return [
        {
            "number": payment.number,
            "amount": payment.amount,
            "status": payment.status.value,
            "reason": payment.reason,
            "paid_at": None if payment.paid_at is None else payment.paid_at.isoformat(),
        }
        for payment in payments.of_member(applicant_id)
    ]
