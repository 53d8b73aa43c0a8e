"""Email-code delivery latency: from "registration stored" to "code sent", as the main job, the replay and the
fault run report it.

- Stored: the applicant record's `created_at`, stamped by the intake consumer in the transaction that stores the
  applicant together with its first code.
- Sent: the earliest `sent_at` of the applicant's `email_code` lines in the outbox, stamped by the notification
  consumer as it hands the code to the mailer (the outbox locally, SES deployed).

Both stamps come from the same machine's clock. Applicants stored as REJECTED (a duplicate, which may have used
the code its mailbox already had) are not counted; the rest without a code sent yet are counted as waiting.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.domain.lifecycle import Status

FIELDS = ("created_at", "status")  # what `measure` reads of each stored applicant


@dataclass
class CodeLatency:
    sent: int = 0
    waiting: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # p50, p90, p99, worst

    @classmethod
    def measure(cls, stored: Iterable[Mapping[str, Any]], first_code_sent: Mapping[str, dt.datetime]) -> CodeLatency:
        """From the stored applicants (rows with `FIELDS`) and when each applicant's first code was sent."""
        waits, waiting = [], 0
        for row in stored:
            if row.get("status") == Status.REJECTED.value:
                continue
            sent = first_code_sent.get(row["applicant_id"])
            if sent is None:
                waiting += 1
            else:
                waits.append((sent - dt.datetime.fromisoformat(row["created_at"])).total_seconds())
        return cls(sent=len(waits), waiting=waiting, seconds=percentiles(waits))

    def line(self) -> str:
        if not self.seconds:
            return f"no code sent yet, {self.waiting:,} waiting"
        figures = " / ".join(f"{self.seconds[name]:,.1f}" for name in ("p50", "p90", "p99", "worst"))
        return f"p50 / p90 / p99 / worst {figures} s over {self.sent:,} sent; {self.waiting:,} still waiting"


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 (nearest rank) and the worst; empty for no values."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(share: float) -> float:
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "worst": ordered[-1]}
