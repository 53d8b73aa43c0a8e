"""`GET /admin/stats`: the funnel as the ministry reported it, each stage a count and a percent of registered."""

from __future__ import annotations

from typing import Any

from functions.domain.lifecycle import FunnelStage
from functions.store import funnel as counters


def funnel() -> dict[str, Any]:
    totals = counters.funnel_totals(list(FunnelStage))
    registered = totals[FunnelStage.REGISTERED]
    return {
        "funnel": [
            {
                "stage": stage.value,
                "count": totals[stage],
                "percent_of_registered": round(100.0 * totals[stage] / registered, 2) if registered else 0.0,
            }
            for stage in FunnelStage
        ]
    }
