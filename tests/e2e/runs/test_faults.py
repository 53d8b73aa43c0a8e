"""The fault-injection run at a CI size: registrations while messages are delivered twice and out of order,
consumers are killed mid-batch, 15% of DynamoDB calls are throttled and the civil registry goes slow and down.
Nothing may be lost or duplicated, everyone reaches a final state, and the wave drawn mid-run verifies."""

from __future__ import annotations

from pathlib import Path

from devstack import fault_run, payment_fault_run
from tests.e2e.leaks import leaks_in_logs, stack_logs


def test_under_injected_faults_nothing_is_lost_duplicated_or_stranded(tmp_path: Path) -> None:
    result = fault_run.run(200, tmp_path / "faults", seed=2021, throttle=0.15)
    assert (result.accepted, result.stored) == (200, 200)
    assert (result.lost, result.duplicated, result.undecided, sum(result.unverified.values())) == (0, 0, 0, 0)
    assert result.kills > 0 and len(result.registry_outages) >= 2
    assert not any(result.settled.dead_letters_after.values())
    assert result.wave.startswith("OK"), result.wave
    assert not [answer for answer in result.answers if answer.endswith((" 500", " 502", " 503", " 504"))]
    assert stack_logs(tmp_path) and leaks_in_logs(tmp_path) == {}


def test_under_injected_faults_each_incentive_is_paid_exactly_once(tmp_path: Path) -> None:
    # Given members who completed and reviewed a training, paid four incentives while messages are delivered twice,
    # consumers are killed, DynamoDB throttles and the provider times out after commit, is slow and is down, and one
    # in five changes its payout account while a run screens and pays it
    result = payment_fault_run.run(20, tmp_path / "payment-faults", seed=2021, throttle=0.15)
    # Then each incentive owed is paid once (statement = payments = ledger), into an account the provider verified
    # for its member (a changer's later ones into its new account), or held with a reason, and no more
    assert result.members == 20
    changed = result.incentives.changed_while_screened + result.incentives.changed_after_payment
    assert result.changers >= 3 and changed == result.changers, result.report()
    assert result.cells[payment_fault_run.PAID_ONCE] == result.owed["PAID"], result.cells
    assert result.cells[payment_fault_run.HELD_WITH_A_REASON] == result.owed["HELD"], result.cells
    assert sum(result.cells.values()) == result.owed.total(), result.cells  # nothing lost, twice or stranded
    assert result.owed["PAID"] >= 20 * 2 and result.unexpected == 0
    # And nothing stranded: no dead letter after the redrive, nothing left in the queues; reconciliation clean
    assert result.settled.clean, result.settled.lines()
    assert result.incentives.differences == [] and result.incentives.matches, result.incentives.line()
    assert result.kills > 0 and result.throttles > 0 and result.incentives.timed_out_after_commit > 0
    # And no log line holds personal data, an account's number or a code sent
    assert stack_logs(tmp_path) and leaks_in_logs(tmp_path) == {}
