"""The metering of a local run for its cost: DynamoDB's sizing rules, routes as origins, pricing a snapshot."""

from __future__ import annotations

import pytest

from devstack import costs
from devstack.metering import Invocations, route_of
from devstack.moto_server import dynamodb_units, item_size


def test_item_size_follows_dynamodb_rules() -> None:
    # names count, strings by UTF-8 bytes, numbers by significant digits, binary by decoded bytes
    assert item_size({"id": {"S": "abc"}}) == 2 + 3
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"b": {"B": "AAAA"}}) == 1 + 3
    assert item_size({"ok": {"BOOL": True}}) == 2 + 1
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)


def test_units_of_writes_and_reads() -> None:
    big = {"id": {"S": "x" * 1500}}
    assert dynamodb_units("PutItem", {"TableName": "t", "Item": big}, {}) == {"t": (0.0, 2.0)}
    transaction = {"TransactItems": [{"Put": {"TableName": "t", "Item": big}}, {"Put": {"TableName": "u", "Item": {}}}]}
    assert dynamodb_units("TransactWriteItems", transaction, {}) == {"t": (0.0, 4.0), "u": (0.0, 2.0)}
    # a missing item still costs a read; eventually consistent reads cost half
    assert dynamodb_units("GetItem", {"TableName": "t", "ConsistentRead": True}, {}) == {"t": (1.0, 0.0)}
    asked = {"RequestItems": {"t": {"Keys": [{}, {}, {}]}}}
    assert dynamodb_units("BatchGetItem", asked, {"Responses": {"t": [{"id": {"S": "a"}}]}}) == {"t": (1.5, 0.0)}


def test_routes_leave_ids_out() -> None:
    assert route_of("POST", "/waves/12/applicants") == "POST /waves/{}/applicants"
    assert route_of("GET", "/applicants/" + "ab" * 16 + "?x=1") == "GET /applicants/{}"
    assert route_of("POST", "/registrations") == "POST /registrations"


def test_a_snapshot_is_priced_by_service_with_messages_apart() -> None:
    before = costs.Snapshot()
    after = costs.Snapshot.take(
        [
            {
                "origin": "POST /registrations",
                "kind": "AmazonSQS.SendMessage",
                "calls": 1000,
                "read_units": 0,
                "write_units": 0,
            },
            {
                "origin": "intake_consumer",
                "kind": "DynamoDB_20120810.TransactWriteItems",
                "calls": 1000,
                "read_units": 0,
                "write_units": 12000,
            },
            {
                "origin": "intake_consumer",
                "kind": "DynamoDB table t",
                "calls": 0,
                "read_units": 0,
                "write_units": 12000,
            },
            {
                "origin": "intake_consumer",
                "kind": "AmazonSQS.ReceiveMessage (empty)",
                "calls": 99,
                "read_units": 0,
                "write_units": 0,
            },
            {
                "origin": "GET /admin/stats",
                "kind": "DynamoDB_20120810.BatchGetItem",
                "calls": 50,
                "read_units": 400,
                "write_units": 0,
            },
        ],
        {
            "POST /registrations": Invocations(1000, 20.0, 1.0, 20000),
            "GET /admin/stats": Invocations(50, 1.0, 0.1, 1000),
        },
        [{"channel": "email"}] * 1000 + [{"channel": "sms"}] * 10,
    )
    assert ("intake_consumer", "DynamoDB table t") in after.minus(before).calls
    bill = costs.bill(after.minus(before), exclude=["GET /admin/stats"])
    price = costs.prices()
    assert bill.calls == {"SQS SendMessage": 1000, "DynamoDB TransactWriteItems": 1000}  # no empty receives, no tooling
    assert bill.usd["DynamoDB"] == pytest.approx(12000 * price["dynamodb"]["per_million_write_units"] / 1e6)
    assert bill.api_requests == 1000
    gb_seconds = 20.0 * costs.memory_mb()[costs.API_FUNCTION] / 1024
    assert bill.gb_seconds == pytest.approx(gb_seconds)
    assert bill.usd["SES email"] == pytest.approx(1000 * price["ses"]["per_thousand_emails"] / 1000)
    assert bill.messages == pytest.approx(bill.usd["SES email"] + bill.usd["SNS SMS"])
    assert "USD per 1M" in costs.report({"registration": after}, 1000, exclude=["GET /admin/stats"])


def test_a_kept_run_is_priced_again_and_two_runs_compared() -> None:
    def run(gets: int) -> dict[str, costs.Snapshot]:
        calls = [
            {
                "origin": "POST /w",
                "kind": "DynamoDB_20120810.GetItem",
                "calls": gets,
                "read_units": gets,
                "write_units": 0,
            },
            {"origin": "POST /w", "kind": "AmazonSQS.SendMessage", "calls": 100, "read_units": 0, "write_units": 0},
        ]
        return {"joining": costs.Snapshot.take(calls, {"POST /w": Invocations(100, 1.0, 0.5, 1000)}, [])}

    # Given a run kept as JSON, and another that reads half as often
    before, after = run(200), run(100)
    kept = costs.from_json(costs.as_json(before, {"registered": 100}))
    # Then the kept run prices as it did, and the comparison shows only what changed, per registration
    assert costs.report(kept, 100) == costs.report(before, 100)
    compared = costs.compare(kept, after, (100, 100)).splitlines()
    changed = compared[1 : compared.index("  USD per 1M registrations (before, after):")]
    assert [line.split() for line in changed] == [["DynamoDB", "GetItem", "2.000", "1.000"]]
    dynamodb = costs.prices()["dynamodb"]["per_million_read_units"]
    assert ["DynamoDB", f"{2 * dynamodb:,.2f}", f"{dynamodb:,.2f}"] in [line.split() for line in compared]
    # And the total without Lambda's GB-seconds (durations move with the load) differs by the reads alone
    without_duration = next(line.split()[-2:] for line in compared if "without Lambda GB-s" in line)
    total = next(line.split()[-2:] for line in compared if line.split()[:2] == ["AWS", "total"])
    gb_usd = costs.bill(after["joining"]).gb_seconds * costs.prices()["lambda"]["per_gb_second"] * costs.PER / 100
    assert [float(v) for v in without_duration] == pytest.approx([float(v) - gb_usd for v in total], abs=0.01)
    assert float(without_duration[0]) - float(without_duration[1]) == pytest.approx(dynamodb, abs=0.01)
