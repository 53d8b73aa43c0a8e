"""The main job at a CI size: one programme week end to end, and its own funnel must be what the synthetic
population implies, with nothing lost and the published draw verified."""

from __future__ import annotations

from pathlib import Path

from devstack import programme_week


def test_a_programme_week_of_500_matches_what_the_population_implies(tmp_path: Path) -> None:
    result = programme_week.run(people=500, quota=None, seed=2020, workdir=tmp_path / "stack")
    assert result.funnel == result.expected
    assert result.lost == 0
    assert result.draw_verified.startswith("OK"), result.draw_verified
    assert result.manifest["selected_count"] == result.expected["accepted"]
    assert (tmp_path / "report.html").read_text().count("<rect") == len(result.funnel)
