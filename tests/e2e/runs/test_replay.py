"""A tiny launch-peak replay in CI (1,000 registrations: moto, not the code, sets the pace): wrk against the local
stack's full path; every 202 is stored exactly once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devstack import replay
from tests.e2e.leaks import leaks_in_logs, stack_logs


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk comes from Debian's packages (`make wrk`)")
def test_a_replay_of_1000_registrations_loses_nothing(tmp_path: Path) -> None:
    result = replay.run(
        count=1000, rate=replay.PEAK_PER_SECOND, duration=90, connections=16, sink=False, workdir=tmp_path
    )
    assert result.status["5xx"] == 0
    assert result.status["202"] > 0
    assert result.accepted == result.status["202"]
    assert result.lost == 0
    assert result.drain_seconds is not None
    assert stack_logs(tmp_path) and leaks_in_logs(tmp_path) == {}
