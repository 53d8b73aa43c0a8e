"""The launch-day capacity model computes from a main job's metered calls."""

from __future__ import annotations

import json
from pathlib import Path

from devstack import capacity


def _row(origin: str, kind: str, calls: int, read_units: float = 0.0, write_units: float = 0.0) -> dict[str, object]:
    return {"origin": origin, "kind": kind, "calls": calls, "read_units": read_units, "write_units": write_units}


def _invoked(count: int, seconds: float) -> dict[str, float]:
    return {"count": count, "seconds": seconds, "cpu": seconds / 2, "billed_ms": int(seconds * 1000)}


def test_the_model_orders_the_launch_limits_and_sizes_the_close(tmp_path: Path) -> None:
    run = {
        "registrations": 100,
        "funnel": {"registered": 100, "accepted": 20},
        "stages": {
            "registration": {
                "calls": [
                    _row("intake_consumer", "DynamoDB_20120810.TransactWriteItems", 100, write_units=1200),
                    _row("intake_consumer", "DynamoDB table prakerja-ApplicantsTable-X1", 0, write_units=800),
                    _row("intake_consumer", "DynamoDB table prakerja-CountersTable-X2", 0, write_units=400),
                    _row("GET /admin/stats", "DynamoDB_20120810.BatchGetItem", 40, read_units=999),
                ],
                "invocations": {"POST /registrations": _invoked(100, 5.0), "intake_consumer": _invoked(10, 5.0)},
                "messages": {"SES email": 100},
            },
            "email verification": {
                "calls": [],
                "invocations": {"POST /verifications/email": _invoked(75, 3)},
                "messages": {},
            },
            "joining wave 1": {
                "calls": [],
                "invocations": {"POST /waves/{}/applicants": _invoked(60, 2)},
                "messages": {},
            },
            "Thursday 16:00 WIB: close and draw": {
                "calls": [_row("close_due_waves", "DynamoDB_20120810.Query", 32, read_units=6)],
                "invocations": {},
                "messages": {},
            },
            "Friday 10:00 WIB: publication": {
                "calls": [_row("publish_consumer", "DynamoDB_20120810.TransactWriteItems", 60, write_units=480)],
                "invocations": {},
                "messages": {"SES email": 60, "SNS SMS": 20},
            },
        },
    }
    path = tmp_path / "aws-calls.json"
    path.write_text(json.dumps(run))
    measured = capacity.Measured.from_run(path)
    assert measured.intake_write_units == 12  # the tooling's own reads are left out
    assert measured.intake_write_units_by_table == {"ApplicantsTable": 8, "CountersTable": 4}
    assert measured.lambda_seconds == 0.1
    assert measured.publish_write_units == 8
    assert measured.sms_per_accepted == 1
    limits = capacity.launch(measured)
    assert limits[0][0].startswith("SES")  # 14 emails/s at one email per registration binds first
    assert limits[1][0].endswith("ApplicantsTable") and limits[1][1] == 500  # 4,000 / 8
    assert [rate for _, rate, _, _ in limits] == sorted(rate for _, rate, _, _ in limits)
    text = capacity.report(measured, path)
    assert "BINDS" in text and "10,000,000 members" in text and "registry at 50 ms" in text
