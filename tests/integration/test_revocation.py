"""Revocation on moto: members accepted in a published wave lose the membership when the daily schedule passes
their first-purchase deadline (except those with a live purchase), the balance returns with its RETURN entry, they
are told; the schedule twice changes nothing; a shard hands its rest on with a cursor; an admin revokes for fraud;
the places freed raise the next wave's quota, and its draw verifies."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.registry import RegistryServer
from devstack.scheduler import Schedule, scheduled_event
from functions.domain.card import new_card_number
from functions.domain.lifecycle import FunnelStage
from functions.domain.membership import LedgerKind, MembershipReason, MembershipState, return_ref
from functions.domain.messages import RevocationShard
from functions.membership import revocation_consumer, revoke_overdue_memberships
from functions.schedules import REVOCATION_CRON
from functions.services import admin, cohort_walk
from functions.settings import settings
from functions.store import funnel, members, revocations
from functions.store import waves as wave_store
from functions.store.models import MemberRecord, cohort_key
from functions.verify_draw import Disagreement, verify
from tests.helpers import FakeLambdaContext, reset_app_state, sqs_event
from tests.integration.conftest import open_first_wave, queue_messages, run_consumers
from tests.integration.test_waves import (
    JSON,
    QUOTA,
    client,
    current,
    drawn,
    fresh_client,
    s3_text,
    statuses,
    throttled,
    tick,
)

__all__ = ["client", "fresh_client"]  # the fixtures, shared with test_waves

BALANCE = settings().training_balance
SCHEDULE = Schedule("revoke_overdue_memberships", REVOCATION_CRON.to_string(), "")


def sweep(at: dt.datetime) -> list[int]:
    result: list[int] = revoke_overdue_memberships(scheduled_event(SCHEDULE, at), None)
    return result


def published(client: Any, registry_service: RegistryServer, count: int, seed: int) -> tuple[list[str], list[str]]:
    """`count` applicants through wave 1, published: (the accepted members' ids, the others')."""
    answers, wave = drawn(client, registry_service, count, seed=seed)
    tick(dt.datetime.fromisoformat(wave["publish_at"]))
    run_consumers("publish_consumer", "notification_consumer")
    outcome = statuses(answers)
    accepted = sorted(a for a, (status, _, _) in outcome.items() if status == "ACCEPTED")
    return accepted, sorted(set(outcome) - set(accepted))


def bought_a_training(applicant_id: str) -> None:
    """Stands for a confirmed purchase (the purchases' own store call is another part of the issue)."""
    MemberRecord(applicant_id=applicant_id).update(actions=[MemberRecord.live_purchases.add(1)])


def deadline_passed() -> dt.datetime:
    wave = wave_store.find(1)
    assert wave is not None and wave.published_at is not None
    return wave.published_at + dt.timedelta(days=settings().first_purchase_days, minutes=1)


def outbox() -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(settings().outbox_path).read_text().splitlines()]


def test_the_daily_schedule_revokes_the_overdue_returns_the_balance_and_refills_the_next_wave(
    client: Any, registry_service: RegistryServer, tmp_path: Path
) -> None:
    # Given wave 1 published with four members, one of whom bought a training
    accepted, _ = published(client, registry_service, 8, seed=61)
    assert len(accepted) == QUOTA
    buyer, overdue = accepted[0], accepted[1:]
    bought_a_training(buyer)
    deadline = deadline_passed()
    assert current(client)["number"] == 2  # wave 2 is open while the deadline passes

    # Nothing is due the day before the deadline
    assert sweep(deadline - dt.timedelta(days=1)) == []
    assert queue_messages(settings().revocation_queue_url) == []

    # When the schedule runs after the deadline: one message per shard, worked through
    assert sweep(deadline) == [1]
    run_consumers("revocation_consumer", "notification_consumer")

    # Then the overdue are revoked with their balance returned, the buyer is not
    for applicant_id in overdue:
        member = members.find(applicant_id)
        assert member is not None
        assert (member.state, member.reason) == (MembershipState.REVOKED, MembershipReason.NO_PURCHASE_IN_TIME)
        assert (member.balance, member.totals.returned, member.totals.granted) == (0, BALANCE, BALANCE)
        assert member.totals.identity_holds()
        assert member.revoked_at is not None and member.revoked_at >= deadline - dt.timedelta(minutes=1)
        assert (return_ref(), LedgerKind.RETURN, BALANCE) in [e[:3] for e in members.entries(applicant_id)]
    kept = members.find(buyer)
    assert kept is not None and (kept.state, kept.balance) == (MembershipState.ACTIVE, BALANCE)
    assert members.ledger_totals()[LedgerKind.RETURN] == BALANCE * len(overdue)
    assert funnel.funnel_totals([FunnelStage.REVOKED])[FunnelStage.REVOKED] == len(overdue)
    assert revocations.refill(2) == len(overdue)
    # Each revoked member is told by email and SMS, never with its card number
    told = [m for m in outbox() if m["kind"] == "membership_revoked"]
    assert sorted(m["applicant_id"] for m in told if m["channel"] == "sms") == overdue
    cards = [member.card_number for a in accepted if (member := members.find(a)) is not None]
    assert not any(card in json.dumps(m) for m in told for card in cards)

    # Running the schedule again, and a shard arriving again, change nothing
    before = {a: members.find(a) for a in accepted}
    assert sweep(deadline + dt.timedelta(days=1)) == []
    assert queue_messages(settings().revocation_queue_url) == []
    again = RevocationShard(wave=1, shard=members.cohort_shard(overdue[0]), swept_at=deadline)
    boto3.client("sqs").send_message(QueueUrl=settings().revocation_queue_url, MessageBody=again.model_dump_json())
    run_consumers("revocation_consumer", "notification_consumer")
    assert {a: members.find(a) for a in accepted} == before
    assert revocations.refill(2) == len(overdue)
    assert len([m for m in outbox() if m["kind"] == "membership_revoked"]) == len(told)

    # The places freed raise wave 2's quota: its draw takes base quota + refill, and verifies
    wave2 = current(client)
    assert tick(dt.datetime.fromisoformat(wave2["closes_at"])) == ["close 2", "read 2"]
    run_consumers("pool_part_consumer")  # the last part's worker draws the wave
    manifest = json.loads(s3_text("waves/2/manifest.json"))
    assert (manifest["base_quota"], manifest["refill"], manifest["quota"]) == (QUOTA, len(overdue), QUOTA + 3)
    ranked = tmp_path / "ranked-list.csv"
    ranked.write_text(s3_text("waves/2/ranked-list.csv"))
    assert verify(manifest, ranked) == manifest["pool_size"] == 4
    assert manifest["selected_count"] == 4  # four carried over, seven places
    with pytest.raises(Disagreement, match="base_quota"):
        verify({**manifest, "refill": 0}, ranked)
    # A revocation after the close counts for the wave open then, not for the one drawn, even when it was told
    # the wave open was the one now closed (its check fails, and it reads the open wave again)
    assert revocations.revoke(kept, MembershipReason.FRAUD, deadline, by="ops", overdue_only=False, open_wave=2)
    assert (revocations.refill(2), revocations.refill(3)) == (len(overdue), 1)


def test_a_shard_hands_its_rest_on_with_a_cursor(
    fresh_client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given five members in one shard and pages of two (wave 1 opened with a quota of five)
    monkeypatch.setenv("PRAKERJA_WAVE_QUOTA", "5")
    monkeypatch.setenv("PRAKERJA_COHORT_PAGE_SIZE", "2")
    reset_app_state()
    open_first_wave()
    client = fresh_client
    accepted, _ = published(client, registry_service, 5, seed=62)
    assert len(accepted) == 5
    for applicant_id in accepted:  # all in shard 0, as a busy shard would be
        MemberRecord(applicant_id=applicant_id).update(actions=[MemberRecord.cohort.set(cohort_key(1, 0))])
    deadline = deadline_passed()
    url = settings().revocation_queue_url
    first = RevocationShard(wave=1, shard=0, swept_at=deadline)

    # When the consumer takes the shard: two revoked, the rest handed on after the second
    answer = revocation_consumer(sqs_event(first.model_dump_json()), FakeLambdaContext())
    assert answer == {"batchItemFailures": []}
    (handed_on,) = queue_messages(url)
    rest = RevocationShard.model_validate_json(handed_on["Body"])
    assert (rest.wave, rest.shard, rest.after, rest.swept_at) == (1, 0, accepted[1], deadline)
    assert [m.state for m in map(members.find, accepted) if m] == [MembershipState.REVOKED] * 2 + [
        MembershipState.ACTIVE
    ] * 3

    # Then the handed-on messages finish the shard, and the last page hands nothing on
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=handed_on["Body"])
    run_consumers("revocation_consumer")
    assert all(m is not None and m.state is MembershipState.REVOKED for m in map(members.find, accepted))
    assert queue_messages(url) == []


def test_a_shard_out_of_time_under_throttling_hands_on_from_where_it_stopped(
    client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from functions.services import revocation

    accepted, _ = published(client, registry_service, 4, seed=65)
    for applicant_id in accepted:
        MemberRecord(applicant_id=applicant_id).update(actions=[MemberRecord.cohort.set(cohort_key(1, 0))])
    # Given DynamoDB throttles every revocation after the first, and an invocation has a fifth of a second
    calls = {"count": 0}

    def after_the_first() -> bool:
        calls["count"] += 1
        return calls["count"] > 1

    monkeypatch.setattr(revocations, "revoke", throttled(revocations.revoke, after_the_first))
    monkeypatch.setattr(revocation.ShardRevoker, "pause_seconds", 0)
    monkeypatch.setattr(cohort_walk, "deadline_of", lambda context: time.monotonic() + 0.2)
    shard = RevocationShard(wave=1, shard=0, swept_at=deadline_passed())

    # When the consumer takes the shard: the message succeeds, the first member is revoked, the rest handed on
    assert revocation_consumer(sqs_event(shard.model_dump_json()), FakeLambdaContext()) == {"batchItemFailures": []}
    (handed_on,) = queue_messages(settings().revocation_queue_url)
    assert RevocationShard.model_validate_json(handed_on["Body"]).after == accepted[0]
    states = [m.state for m in map(members.find, accepted) if m]
    assert states == [MembershipState.REVOKED] + [MembershipState.ACTIVE] * (len(accepted) - 1)


def test_an_admin_revokes_a_membership_for_fraud(client: Any, registry_service: RegistryServer) -> None:
    accepted, _ = published(client, registry_service, 4, seed=63)
    member = members.find(accepted[0])
    assert member is not None
    token = admin.mint("ops@kemnaker.go.id", 1)
    headers = {"Authorization": f"Bearer {token}", **JSON}

    def revoke(card: str, body: Any) -> Any:
        text = body if isinstance(body, str) else json.dumps(body)
        return client.http.post(f"/admin/memberships/{card}/revoke", headers=headers, body=text)

    # Only admins; bad bodies and cards name their field
    anonymous = client.http.post(
        f"/admin/memberships/{member.card_number}/revoke", headers=JSON, body=json.dumps({"reason": "x"})
    )
    assert anonymous.status_code == 401
    for card, body, status, field in [
        (member.card_number, {}, 400, "reason"),
        (member.card_number, {"reason": " "}, 400, "reason"),
        (member.card_number, {"reason": "x" * 501}, 400, "reason"),
        (member.card_number, {"reason": 5}, 400, "reason"),
        (member.card_number, {"reason": "x", "by": "someone"}, 400, "by"),
        ("1234", {"reason": "x"}, 400, "card_number"),
    ]:
        answer = revoke(card, body)
        assert (answer.status_code, answer.json_body["error"].get("field")) == (status, field), body
    missing = revoke(new_card_number(), {"reason": "agent-held card"})
    assert (missing.status_code, missing.json_body["error"]["code"]) == (404, "CARD_NOT_FOUND")

    # When an admin revokes: 200, the balance returned, who and why recorded, the member told
    done = revoke(member.card_number, {"reason": "card bought from an agent (case 17)"})
    assert done.status_code == 200, done.json_body
    assert done.json_body["state"] == "REVOKED" and done.json_body["reason"] == "FRAUD"
    assert done.json_body["revoked_by"] == "ops@kemnaker.go.id" and done.json_body["returned"] == BALANCE
    revoked = members.find(member.applicant_id)
    assert revoked is not None and revoked.balance == 0
    assert (revoked.revoked_by, revoked.revoked_note) == ("ops@kemnaker.go.id", "card bought from an agent (case 17)")
    run_consumers("notification_consumer")
    assert [m["channel"] for m in outbox() if m["kind"] == "membership_revoked"] == ["email", "sms"]
    # Then again: 409, and nothing moves
    again = revoke(member.card_number, {"reason": "again"})
    assert (again.status_code, again.json_body["error"]["code"]) == (409, "MEMBERSHIP_REVOKED")
    assert members.ledger_totals()[LedgerKind.RETURN] == BALANCE


def test_a_revocation_racing_a_purchase_returns_what_the_purchase_left(
    client: Any, registry_service: RegistryServer
) -> None:
    accepted, _ = published(client, registry_service, 4, seed=64)
    # Given a member read before a purchase of Rp250,000 debited its balance (as the purchase's write would)
    stale = members.find(accepted[0])
    assert stale is not None
    price = 250_000
    MemberRecord(applicant_id=stale.applicant_id).update(
        actions=[MemberRecord.balance.add(-price), MemberRecord.purchased.add(price)]
    )
    # When it is revoked from what was read: the balance condition fails, it reads again and returns the rest
    assert revocations.revoke(stale, MembershipReason.FRAUD, deadline_passed(), by="ops", overdue_only=False)
    revoked = members.find(stale.applicant_id)
    assert revoked is not None
    assert (revoked.balance, revoked.totals.purchased, revoked.totals.returned) == (0, price, BALANCE - price)
    assert revoked.totals.identity_holds()
    assert (return_ref(), LedgerKind.RETURN, BALANCE - price) in [e[:3] for e in members.entries(stale.applicant_id)]
    # And a second revocation writes nothing
    assert not revocations.revoke(revoked, MembershipReason.FRAUD, deadline_passed(), by="ops", overdue_only=False)
