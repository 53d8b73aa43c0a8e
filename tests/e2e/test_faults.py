"""The fault-injection run at a CI size: registrations while messages are delivered twice and out of order,
consumers are killed mid-batch, 15% of DynamoDB calls are throttled and the civil registry goes slow and down.
Nothing may be lost or duplicated, everyone reaches a final state, and the wave drawn mid-run verifies."""

from __future__ import annotations

from pathlib import Path

from devstack import fault_run


def test_under_injected_faults_nothing_is_lost_duplicated_or_stranded(tmp_path: Path) -> None:
    result = fault_run.run(200, tmp_path / "faults", seed=2021, throttle=0.15)
    assert (result.accepted, result.stored) == (200, 200)
    assert (result.lost, result.duplicated, result.undecided, sum(result.unverified.values())) == (0, 0, 0, 0)
    assert result.kills > 0 and len(result.registry_outages) >= 2
    assert not any(result.dead_letters_after.values())
    assert result.wave.startswith("OK"), result.wave
    assert not [answer for answer in result.answers if answer.endswith((" 500", " 502", " 503", " 504"))]
