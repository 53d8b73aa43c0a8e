"""The one reader of the local outbox (devstack.outbox): consumers append while it reads, so a half-written last
line is left for the next read; and the email-code latency it feeds (devstack.code_latency)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from devstack.code_latency import CodeLatency, percentiles
from devstack.outbox import OutboxFollower

T0 = dt.datetime(2020, 4, 11, 3, 0, tzinfo=dt.UTC)


def line(applicant_id: str, code: str, sent_after_seconds: float = 0.0) -> bytes:
    message = {
        "to": "a@example.test",
        "channel": "email",
        "kind": "email_code",
        "applicant_id": applicant_id,
        "code": code,
        "sent_at": (T0 + dt.timedelta(seconds=sent_after_seconds)).isoformat(),
    }
    return (json.dumps(message) + "\n").encode()


def test_a_half_written_line_is_not_parsed_and_is_read_once_completed(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    whole, second = line("a" * 32, "111111"), line("b" * 32, "222222")
    cut = len(second) // 2
    outbox.write_bytes(whole + second[:cut])  # a consumer is halfway through writing the second line
    reader = OutboxFollower(outbox)

    assert [m["code"] for m in reader.read()] == ["111111"]
    assert reader.code_for("b" * 32) is None
    assert reader.read() == []  # still unfinished: left for the next read, not parsed

    with outbox.open("ab") as appending:
        appending.write(second[cut:])
    assert reader.code_for("b" * 32) == "222222"
    assert [m["code"] for m in reader.messages()] == ["111111", "222222"]  # each line read once
    assert reader.read() == []


def test_the_newest_code_and_the_first_sent(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    outbox.write_bytes(line("a" * 32, "111111", 5) + line("a" * 32, "333333", 65))
    reader = OutboxFollower(outbox)

    assert reader.code_for("a" * 32) == "333333"
    assert reader.code_for("a" * 32, besides={"333333"}) is None  # tried already: wait for the next email
    assert reader.first_code_sent["a" * 32] == T0 + dt.timedelta(seconds=5)
    assert OutboxFollower(tmp_path / "not-yet.jsonl").messages() == []


def test_code_latency_from_stored_to_first_code_sent() -> None:
    stored = [
        {"applicant_id": "a", "created_at": "2020-04-11T03:00:00.000000+0000", "status": "EMAIL_VERIFIED"},
        {"applicant_id": "b", "created_at": "2020-04-11T03:00:00.000000+0000", "status": "REGISTERED"},
        {"applicant_id": "c", "created_at": "2020-04-11T03:00:00.000000+0000", "status": "REJECTED"},
    ]
    latency = CodeLatency.measure(stored, {"a": T0 + dt.timedelta(seconds=18)})
    assert (latency.sent, latency.waiting) == (1, 1)  # b still waits; c, a rejected duplicate, gets no code
    assert latency.seconds == {"p50": 18.0, "p90": 18.0, "p99": 18.0, "worst": 18.0}
    assert "1 still waiting" in latency.line()


def test_percentiles_are_nearest_rank() -> None:
    assert percentiles([]) == {}
    figures = percentiles([float(n) for n in range(1, 101)])
    assert figures == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "worst": 100.0}


def test_a_purchase_code_is_read_by_its_purchase_from_either_channel(tmp_path: Path) -> None:
    # Given the member's consent code for a purchase, sent by email and by SMS
    outbox = tmp_path / "outbox.jsonl"
    sent = [
        {"to": to, "channel": channel, "kind": "purchase_code", "applicant_id": "a" * 32, "purchase_id": "p1"}
        for to, channel in (("a@example.test", "email"), ("081200000001", "sms"))
    ]
    outbox.write_text("".join(json.dumps({**message, "code": "654321"}) + "\n" for message in sent))
    reader = OutboxFollower(outbox)

    # Then the code is found by its purchase, and a purchase not told yet has none
    assert reader.wait_for_purchase_code("p1", timeout_seconds=1) == "654321"
    assert reader.purchase_code_for("p2") is None
    assert reader.code_for("a" * 32) is None  # not an email code
