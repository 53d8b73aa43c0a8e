"""The main job at a CI size: one programme week end to end and the four months after it, and its own funnel must be
what the synthetic population implies, with nothing lost, every published draw verified, the places freed by
revocations added to the next wave's quota, the ledger identity holding, and the incentives paid exactly as the
rules owe, through refused accounts, held members, a timeout after commit and a provider outage, reconciled with
no difference."""

from __future__ import annotations

from pathlib import Path

from devstack import programme_week
from tests.e2e.leaks import leaks_in_logs, stack_logs


def test_a_programme_week_and_month_of_300_match_what_the_population_implies(tmp_path: Path) -> None:
    result = programme_week.run(people=300, quota=None, seed=2020, workdir=tmp_path / "stack")
    assert result.funnel == result.expected
    assert result.lost == 0
    assert result.draw_verified.startswith("OK"), result.draw_verified
    assert all(verdict.startswith("OK") for verdict in result.later_draws.values()), result.later_draws
    assert result.manifest["selected_count"] == result.quota  # more were selectable than wave 1's quota
    assert result.refill["refill"] == result.expected_refill > 0
    assert result.refill["quota"] == result.refill["base_quota"] + result.refill["refill"]
    assert result.ledger["identity"]["holds"] is True
    assert result.ledger_totals == result.expected_ledger
    incentives = result.incentives
    assert incentives.paid_amount == incentives.provider_paid_amount == incentives.owed_amount > 0
    assert incentives.reconciled_amount == incentives.paid_amount  # every day paid was reconciled
    assert incentives.differences == [], incentives.differences
    assert incentives.timed_out_after_commit >= 1
    assert sum(incentives.refused_first.values()) > 0
    assert result.funnel["held"] == incentives.held > 0
    assert result.funnel["incentive_4"] == result.funnel["account_verified"] - incentives.held
    assert result.matches
    assert (tmp_path / "report.html").read_text().count("<rect") == len(result.funnel)
    assert stack_logs(tmp_path) and leaks_in_logs(tmp_path) == {}
