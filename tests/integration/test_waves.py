"""Waves on moto: join, close, draw, publish in chunks, carry-over, reruns, a crash between chunks, admin."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

from devstack.population import PopulationGenerator, registry_row
from devstack.registry import RegistryServer, write_csv
from devstack.scheduler import Schedule, scheduled_event
from functions.adapters import draw_seeds
from functions.app import app
from functions.domain.card import is_valid, luhn_digit
from functions.select import catch_up_waves
from functions.services import admin
from functions.settings import settings
from functions.store import applicants
from functions.store import waves as wave_store
from functions.verify_draw import verify
from tests.helpers import counted, reset_app_state
from tests.integration.conftest import open_first_wave, queue_messages, run_consumers

JSON = {"Content-Type": "application/json"}
QUOTA = 4


@pytest.fixture
def fresh_client(aws: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh deployment before the closing schedule's first run: no wave yet."""
    monkeypatch.setenv("PRAKERJA_WAVE_QUOTA", str(QUOTA))
    monkeypatch.setenv("PRAKERJA_PUBLISH_CHUNK_SIZE", "3")
    reset_app_state()
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def client(aws: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A deployment whose closing schedule has run once: wave 1 open. (Self-contained: other modules import it.)"""
    monkeypatch.setenv("PRAKERJA_WAVE_QUOTA", str(QUOTA))
    monkeypatch.setenv("PRAKERJA_PUBLISH_CHUNK_SIZE", "3")
    reset_app_state()
    open_first_wave()
    with Client(app) as test_client:
        yield test_client


def eligible(client: Any, registry_service: RegistryServer, count: int, seed: int = 41) -> list[dict[str, Any]]:
    people = PopulationGenerator(seed=seed).people(count)
    write_csv(registry_service.registry.csv_path, [registry_row(p) for p in people])
    answers = []
    for person in people:
        answer = client.http.post("/registrations", headers=JSON, body=json.dumps(person.registration()))
        answers.append(answer.json_body)
    run_consumers("intake_consumer", "email_code_consumer")
    outbox = [json.loads(line) for line in Path(settings().outbox_path).read_text().splitlines()]
    for applicant in answers:
        code = next(
            m["code"] for m in outbox if m["applicant_id"] == applicant["applicant_id"] and m["kind"] == "email_code"
        )
        body = json.dumps({"applicant_id": applicant["applicant_id"], "code": code})
        own = {**JSON, "Authorization": f"Bearer {applicant['access_token']}"}
        assert client.http.post("/verifications/email", headers=own, body=body).status_code == 200
    run_consumers("nik_check_consumer", "notification_consumer")
    return answers


def join(client: Any, applicant: dict[str, Any], wave: int = 1) -> Any:
    return client.http.post(
        f"/waves/{wave}/applicants",
        headers={**JSON, "Authorization": f"Bearer {applicant['access_token']}"},
        body=json.dumps({"applicant_id": applicant["applicant_id"]}),
    )


def joined(client: Any, registry_service: RegistryServer, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` eligible applicants, each joined to wave 1."""
    answers = eligible(client, registry_service, count, seed=seed)
    for applicant in answers:
        join(client, applicant)
    return answers


def drawn(
    client: Any, registry_service: RegistryServer, count: int, seed: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`count` applicants joined to wave 1, closed by its schedule and drawn once its pool is read; and the wave
    as it was open."""
    answers = joined(client, registry_service, count, seed=seed)
    wave = current(client)
    tick(dt.datetime.fromisoformat(wave["closes_at"]))
    run_consumers("pool_part_consumer")
    return answers, wave


def tick(at: dt.datetime) -> list[str]:
    result: list[str] = catch_up_waves(scheduled_event(Schedule("catch_up_waves", "rate(1 hour)", ""), at), None)
    return result


def current(client: Any) -> dict[str, Any]:
    document: dict[str, Any] = client.http.get("/waves/current").json_body
    return document


def statuses(answers: list[dict[str, Any]]) -> dict[str, tuple[str, int | None, str | None]]:
    found = {}
    for answer in answers:
        record = applicants.find(answer["applicant_id"])
        assert record is not None
        found[answer["applicant_id"]] = (
            record.status,
            None if record.wave is None else int(record.wave),
            record.card_number,
        )
    return found


def ranked_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def s3_text(key: str) -> str:
    body = boto3.client("s3").get_object(Bucket=settings().results_bucket, Key=key)["Body"].read()
    return str(body.decode())


def test_a_fresh_deployment_opens_wave_1_at_the_closing_schedules_first_run_never_at_the_api(
    fresh_client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = fresh_client
    (applicant,) = eligible(client, registry_service, 1, seed=52)
    made: list[int] = []
    new_seed = draw_seeds.new_seed

    def counted_seed(wave: int) -> tuple[str, bytes]:
        made.append(wave)
        return new_seed(wave)

    monkeypatch.setattr(draw_seeds, "new_seed", counted_seed)
    # Before the first run the API answers that no wave is open, and neither it nor a join opens one
    none_yet = client.http.get("/waves/current")
    assert (none_yet.status_code, none_yet.json_body["error"]["code"]) == (404, "NO_OPEN_WAVE")
    refused = join(client, applicant)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (409, "WAVE_NOT_OPEN")
    assert (made, wave_store.current_number(), wave_store.find(1)) == ([], None, None)
    # The closing schedule's first run opens wave 1, with its seed made there and its commitment published
    open_first_wave()
    assert made == [1]
    wave = current(client)
    assert (wave["number"], wave["state"], wave["quota"]) == (1, "OPEN", QUOTA)
    assert len(wave["commitment"]) == 64
    closes = dt.datetime.fromisoformat(wave["closes_at"])
    assert closes.astimezone(dt.timezone(dt.timedelta(hours=7))).strftime("%a %H:%M") == "Thu 16:00"


def test_join_only_eligible_only_open_only_once(client: Any, registry_service: RegistryServer) -> None:
    (applicant,) = eligible(client, registry_service, 1)
    assert join(client, applicant, wave=2).json_body["error"]["code"] == "WAVE_NOT_OPEN"
    first = join(client, applicant)
    assert (first.status_code, first.json_body["status"]) == (201, "JOINED")
    again = join(client, applicant)
    assert (again.status_code, again.json_body["error"]["code"]) == (409, "ALREADY_JOINED")
    stranger = client.http.post(
        "/registrations", headers=JSON, body=json.dumps(PopulationGenerator(99).person().registration())
    ).json_body
    refused = join(client, stranger)
    assert (refused.status_code, refused.json_body["error"]["code"]) == (409, "NOT_ELIGIBLE")


def test_a_join_reads_only_the_applicant_and_a_closed_wave_still_refuses_it(
    client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, late = eligible(client, registry_service, 2, seed=48)
    wave = current(client)
    reads: list[str] = []
    for module, name in ((applicants, "find"), (wave_store, "find"), (wave_store, "current_number")):
        monkeypatch.setattr(module, name, counted(getattr(module, name), f"{module.__name__}.{name}", reads))
    # When an eligible applicant joins the open wave, the wave is left to the transaction's condition check
    assert join(client, first).status_code == 201
    assert reads == ["functions.store.applicants.find"]
    # Given the wave has closed, a join into it is refused as before, and the next wave takes it
    tick(dt.datetime.fromisoformat(wave["closes_at"]))
    refused = join(client, late)
    assert (refused.status_code, refused.json_body["error"]) == (
        409,
        {"code": "WAVE_NOT_OPEN", "message": "wave 1 is not open", "field": "number"},
    )
    assert applicants.find(late["applicant_id"]).status == "ELIGIBLE"  # type: ignore[union-attr]
    assert (join(client, late, wave=2).status_code, join(client, first, wave=2).json_body["error"]["code"]) == (
        201,
        "ALREADY_JOINED",
    )


def test_two_weekly_cycles_reruns_change_nothing_and_carry_over_is_exact(
    client: Any, registry_service: RegistryServer
) -> None:
    answers = eligible(client, registry_service, 10)
    for applicant in answers:
        assert join(client, applicant).status_code == 201
    wave = current(client)
    closes, publishes = dt.datetime.fromisoformat(wave["closes_at"]), dt.datetime.fromisoformat(wave["publish_at"])

    # Nothing is due before the close, and the applicant sees JOINED
    assert tick(closes - dt.timedelta(minutes=1)) == []
    # Thursday: the close hands the frozen pool to the workers, and the next wave is open at once
    assert tick(closes) == ["close 1", "read 1"]
    assert wave_store.find(1).state == "CLOSED"  # type: ignore[union-attr]
    assert tick(closes + dt.timedelta(minutes=1)) == []  # the draw waits for every part
    # When the workers have read every part, the last of them has the wave drawn; members show PROCESSING
    run_consumers("pool_part_consumer")
    assert wave_store.find(1).state == "SELECTED"  # type: ignore[union-attr]
    seen = client.http.get(
        f"/applicants/{answers[0]['applicant_id']}", headers={"Authorization": f"Bearer {answers[0]['access_token']}"}
    )
    assert seen.json_body["status"] == "PROCESSING"
    assert current(client)["number"] == 2
    manifest_text = s3_text("waves/1/manifest.json")
    ranked_text = s3_text("waves/1/ranked-list.csv")
    # Rerunning the close changes nothing
    assert tick(closes + dt.timedelta(minutes=5)) == []
    assert (s3_text("waves/1/manifest.json"), s3_text("waves/1/ranked-list.csv")) == (manifest_text, ranked_text)
    assert client.http.get("/waves/1/results").status_code == 404  # not before Friday

    # Friday: publication fans out in chunks; the wave is PUBLISHED when all are done
    assert tick(publishes) == ["publish 1"]
    run_consumers("publish_consumer", "notification_consumer")
    after_first = statuses(answers)
    accepted = [a for a, (status, _, _) in after_first.items() if status == "ACCEPTED"]
    carried = [a for a, (status, wave_number, _) in after_first.items() if status == "JOINED" and wave_number == 2]
    assert len(accepted) == QUOTA and len(carried) == len(answers) - QUOTA
    assert all(is_valid(after_first[a][2] or "") for a in accepted)
    assert len({after_first[a][2] for a in accepted}) == QUOTA
    results = client.http.get("/waves/1/results").json_body
    assert results["selected_count"] == QUOTA and results["pool_size"] == len(answers)
    manifest_path, ranked_path = (
        Path(settings().outbox_path).with_name("m.json"),
        Path(settings().outbox_path).with_name("r.csv"),
    )
    manifest_path.write_text(manifest_text)
    ranked_path.write_text(ranked_text)
    assert verify(json.loads(manifest_text), ranked_path) == len(answers)
    assert json.loads(manifest_text)["early_close"] is None  # closed by the schedule, on time
    # Cards are random: none is the old '7' + wave + place among the selected + Luhn
    old_scheme = {f"7001{index:011d}" + luhn_digit(f"7001{index:011d}") for index in range(QUOTA)}
    assert not {after_first[a][2] for a in accepted} & old_scheme

    # Publishing again (schedule or admin) changes nothing: no second carry-over, no second card
    assert tick(publishes + dt.timedelta(hours=1)) == []
    from functions.services import selection

    selection.publish(1)
    run_consumers("publish_consumer", "notification_consumer")
    assert statuses(answers) == after_first
    members_of_2 = [m.applicant_id for m in wave_store.members(2)]
    assert sorted(members_of_2) == sorted(carried)  # every not-selected applicant, exactly once

    # The second week: the carried-over applicants are drawn again without doing anything
    wave2 = current(client)
    assert tick(dt.datetime.fromisoformat(wave2["closes_at"])) == ["close 2", "read 2"]
    run_consumers("pool_part_consumer")
    assert tick(dt.datetime.fromisoformat(wave2["publish_at"])) == ["publish 2"]
    run_consumers("publish_consumer", "notification_consumer")
    final = statuses(answers)
    assert sum(status == "ACCEPTED" for status, _, _ in final.values()) == min(len(answers), 2 * QUOTA)
    assert wave_store.find(2).state == "PUBLISHED"  # type: ignore[union-attr]
    told = [json.loads(line) for line in Path(settings().outbox_path).read_text().splitlines()]
    assert sum(m["kind"] == "acceptance" and m["channel"] == "sms" for m in told) == min(len(answers), 2 * QUOTA)

    # Both waves' files verify; they name the same people by draw ids that share nothing, and no account id
    second_manifest, second_ranked = s3_text("waves/2/manifest.json"), s3_text("waves/2/ranked-list.csv")
    ranked_path.write_text(second_ranked)
    assert verify(json.loads(second_manifest), ranked_path) == len(carried)
    lists = [ranked_rows(ranked_text), ranked_rows(second_ranked)]
    assert not {r["draw_id"] for r in lists[0]} & {r["draw_id"] for r in lists[1]}
    assert not {r["family"] for r in lists[0]} & {r["family"] for r in lists[1]}
    for applicant in answers:
        assert applicant["applicant_id"] not in ranked_text + second_ranked + manifest_text + second_manifest
    # Each applicant sees its draw id for every wave it joined, and finds its row (and outcome) by it
    for applicant in answers:
        seen = client.http.get(
            f"/applicants/{applicant['applicant_id']}", headers={"Authorization": f"Bearer {applicant['access_token']}"}
        ).json_body
        # accepted in wave 1, accepted in wave 2, or carried over twice (in wave 3's pool, not drawn yet)
        last = 1 if applicant["applicant_id"] in accepted else 2 if seen["status"] == "ACCEPTED" else 3
        assert sorted(seen["draw_ids"]) == [str(number) for number in range(1, last + 1)]
        assert len(set(seen["draw_ids"].values())) == last
        for number, draw_id in seen["draw_ids"].items():
            if number == "3":
                continue  # not drawn yet
            (row,) = [r for r in lists[int(number) - 1] if r["draw_id"] == draw_id]
            assert (row["selected"] == "true") == (seen["status"] == "ACCEPTED" and seen["wave"] == int(number))


def test_a_crash_between_chunks_resumes_and_the_wave_waits_for_every_chunk(
    client: Any, registry_service: RegistryServer
) -> None:
    answers, wave = drawn(client, registry_service, 8, seed=42)
    tick(dt.datetime.fromisoformat(wave["publish_at"]))
    chunks = queue_messages(settings().publish_queue_url)
    assert len(chunks) == 3  # 8 applicants in chunks of 3
    # Given the publisher crashed after the first chunk: only it was applied
    from functions.select import publish_consumer
    from tests.helpers import FakeLambdaContext, sqs_event

    assert publish_consumer(sqs_event(chunks[0]["Body"]), FakeLambdaContext()) == {"batchItemFailures": []}
    assert wave_store.find(1).state == "SELECTED"  # type: ignore[union-attr]
    # When the rest arrive again (a redelivery, or the next tick re-queueing what is not done)
    boto3.client("sqs").send_message_batch(
        QueueUrl=settings().publish_queue_url,
        Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(chunks)],
    )
    run_consumers("publish_consumer")
    # Then every applicant got exactly one outcome and the wave is published
    assert wave_store.find(1).state == "PUBLISHED"  # type: ignore[union-attr]
    final = statuses(answers)
    assert sum(s == "ACCEPTED" for s, _, _ in final.values()) == QUOTA
    assert sorted(m.applicant_id for m in wave_store.members(2)) == sorted(
        a for a, (s, w, _) in final.items() if s == "JOINED" and w == 2
    )


def test_admin_routes_need_an_admin_token(client: Any, registry_service: RegistryServer, monkeypatch: Any) -> None:
    from functions import clock

    (applicant,) = eligible(client, registry_service, 1, seed=43)
    token = admin.mint("ops@kemnaker.go.id", 1)
    ok = client.http.get("/admin/stats", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    stages = {row["stage"]: row for row in ok.json_body["funnel"]}
    assert stages["registered"] == {"stage": "registered", "count": 1, "percent_of_registered": 100.0}
    assert stages["eligible"]["count"] == 1 and stages["joined"]["count"] == 0
    assert client.http.get("/admin/stats").status_code == 401
    refused = [
        client.http.get("/admin/stats", headers={"Authorization": f"Bearer {applicant['access_token']}"}),
        client.http.get("/admin/stats", headers={"Authorization": f"Bearer {token[:-3]}abc"}),
        client.http.get("/admin/stats", headers={"Authorization": "Bearer x.y.z"}),
    ]
    assert {answer.status_code for answer in refused} == {403}
    with monkeypatch.context() as earlier:
        earlier.setattr(clock, "now", lambda: dt.datetime.now(dt.UTC) - dt.timedelta(hours=3))
        expired = admin.mint("ops@kemnaker.go.id", 1)
    assert client.http.get("/admin/stats", headers={"Authorization": f"Bearer {expired}"}).status_code == 403
    forced = json.dumps({"force": True, "reason": "test of the admin routes"})
    close = client.http.post("/admin/waves/1/close", headers={"Authorization": f"Bearer {token}", **JSON}, body=forced)
    assert (close.status_code, close.json_body["state"]) == (200, "CLOSED")
    run_consumers("pool_part_consumer")
    again = client.http.post("/admin/waves/1/close", headers={"Authorization": f"Bearer {token}"})
    assert (again.status_code, again.json_body["state"]) == (200, "SELECTED")
    early = client.http.post("/admin/waves/2/publish", headers={"Authorization": f"Bearer {token}"})
    assert (early.status_code, early.json_body["error"]["code"]) == (409, "WAVE_NOT_SELECTED")


def test_an_early_admin_close_needs_force_and_is_recorded_in_the_manifest(
    client: Any, registry_service: RegistryServer
) -> None:
    answers = joined(client, registry_service, 3, seed=44)
    headers = {"Authorization": f"Bearer {admin.mint('ops@kemnaker.go.id', 1)}", **JSON}

    def close(body: str | None = None) -> Any:
        return client.http.post("/admin/waves/1/close", headers=headers, body=body)

    # Before Thursday 16:00 WIB: refused without force, and nothing changes
    refused = close()
    assert (refused.status_code, refused.json_body["error"]["code"]) == (409, "WAVE_NOT_DUE")
    assert close(json.dumps({"force": False, "reason": "why not"})).status_code == 409
    assert current(client)["number"] == 1 and wave_store.find(1).state == "OPEN"  # type: ignore[union-attr]
    for bad, field in [
        ("{", None),
        ("[]", None),
        (json.dumps({"force": "yes", "reason": "x"}), "force"),
        (json.dumps({"force": True}), "reason"),
        (json.dumps({"force": True, "reason": "  "}), "reason"),
        (json.dumps({"force": True, "reason": "x", "by": "someone else"}), "by"),
    ]:
        answer = close(bad)
        assert answer.status_code == 400, bad
        assert answer.json_body["error"].get("field") == field, bad
    assert wave_store.find(1).state == "OPEN"  # type: ignore[union-attr]

    # With force and a reason: closed at once, drawn when the pool is read, and the manifest says who, why and when
    forced = close(json.dumps({"force": True, "reason": "registry outage; joins complete"}))
    assert (forced.status_code, forced.json_body["state"]) == (200, "CLOSED")
    run_consumers("pool_part_consumer")
    manifest = json.loads(s3_text("waves/1/manifest.json"))
    assert manifest["pool_size"] == len(answers)
    early = manifest["early_close"]
    assert (early["by"], early["reason"]) == ("ops@kemnaker.go.id", "registry outage; joins complete")
    closed_at = wave_store.find(1).closed_at  # type: ignore[union-attr]
    assert closed_at is not None and dt.datetime.fromisoformat(early["at"]) == closed_at
    # Closing again changes nothing, with or without a body
    assert close().json_body["state"] == "SELECTED"
    assert json.loads(s3_text("waves/1/manifest.json")) == manifest


def test_a_card_number_already_held_is_never_issued_again(
    client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.services import selection

    answers, wave = drawn(client, registry_service, 3, seed=45)
    # Given a CSPRNG that repeats itself: each number twice in a row
    numbers = [body + luhn_digit(body) for body in (f"7{n:014d}" for n in (11, 22, 33, 44))]
    issued = iter([numbers[0], numbers[0], numbers[1], numbers[1], numbers[2], numbers[2], numbers[3]])
    monkeypatch.setattr(selection, "new_card_number", lambda: next(issued))
    tick(dt.datetime.fromisoformat(wave["publish_at"]))
    run_consumers("publish_consumer", "notification_consumer")
    cards = [card for status, _, card in statuses(answers).values() if status == "ACCEPTED"]
    # Then the three accepted hold three different numbers, the clashes were drawn again
    assert len(cards) == 3 and sorted(cards) == numbers[:3]
    assert all(is_valid(card) for card in cards)


def throttled(call: Any, failing: Any) -> Any:
    """`call`, made to fail with DynamoDB's throttling error whenever `failing()` says so."""
    from botocore.exceptions import ClientError

    def maybe(*args: Any, **kwargs: Any) -> Any:
        if failing():
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "throttled"}}
            raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
        return call(*args, **kwargs)

    return maybe


def publish_dlq_depth() -> int:
    url = boto3.client("sqs").get_queue_url(QueueName="prakerja-publish-dlq")["QueueUrl"]
    return len(queue_messages(url))


def published_exactly(answers: list[dict[str, Any]]) -> None:
    after = statuses(answers)
    accepted = [a for a, (status, _, _) in after.items() if status == "ACCEPTED"]
    carried = [a for a, (status, number, _) in after.items() if status == "JOINED" and number == 2]
    assert len(accepted) == QUOTA and len(carried) == len(answers) - QUOTA
    assert sorted(m.applicant_id for m in wave_store.members(2)) == sorted(carried)  # each carried over once
    assert wave_store.find(1).state == "PUBLISHED"  # type: ignore[union-attr]
    assert publish_dlq_depth() == 0  # no redrive needed


def test_publication_makes_progress_through_intermittent_throttling(
    client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers, wave = drawn(client, registry_service, 8, seed=46)
    calls = {"count": 0, "reads": 0}

    def every_other() -> bool:  # half of all calls throttled, well beyond the SDK's own retries
        calls["count"] += 1
        return calls["count"] % 2 == 1

    for name in ("accept", "carry_over", "chunk_done"):
        monkeypatch.setattr(wave_store, name, throttled(getattr(wave_store, name), every_other))
    find_many = applicants.find_many

    def counted_reads(ids: Any) -> Any:
        calls["reads"] += 1
        return find_many(ids)

    monkeypatch.setattr(applicants, "find_many", throttled(counted_reads, every_other))
    tick(dt.datetime.fromisoformat(wave["publish_at"]))
    run_consumers("publish_consumer", "notification_consumer")
    published_exactly(answers)
    assert calls["reads"] == 3  # one BatchGetItem per chunk (3 of 3 members), none repeated

    # A chunk applied again (a redelivery) writes nothing for members already accepted or carried over.
    from functions.domain.messages import PublishChunk

    written: list[Any] = []

    def no_write(*args: Any, **_: Any) -> bool:
        written.append(args)
        return False

    for name in ("accept", "carry_over"):
        monkeypatch.setattr(wave_store, name, no_write)
    after = statuses(answers)
    entries = [(applicant_id, status == "ACCEPTED") for applicant_id, (status, _, _) in after.items()]
    again = PublishChunk(wave=1, chunk=0, entries=entries).model_dump_json()
    boto3.client("sqs").send_message(QueueUrl=settings().publish_queue_url, MessageBody=again)
    run_consumers("publish_consumer")
    assert written == [] and statuses(answers) == after


def test_a_chunk_out_of_time_hands_its_rest_on_instead_of_failing(
    client: Any, registry_service: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from functions.services import selection

    answers, wave = drawn(client, registry_service, 8, seed=47)
    # A run of throttles longer than a chunk's time: each invocation gets a fifth of a second.
    monkeypatch.setattr(selection, "_HAND_ON_DELAY_SECONDS", 0)
    budget = selection.ChunkPublisher.__init__

    def short(self: Any, context: Any = None) -> None:
        budget(self, context)
        self.deadline = time.monotonic() + 0.2

    monkeypatch.setattr(selection.ChunkPublisher, "__init__", short)
    runs = {"calls": 0}

    def in_runs() -> bool:  # twelve throttled calls, then four through, again and again
        runs["calls"] += 1
        return runs["calls"] % 16 < 12

    for name in ("accept", "carry_over"):
        monkeypatch.setattr(wave_store, name, throttled(getattr(wave_store, name), in_runs))
    handed_on = []
    hand_on = selection.ChunkPublisher._hand_on

    def noted(self: Any, chunk: Any, done: int) -> None:
        handed_on.append((chunk.chunk, done, len(chunk.entries)))
        hand_on(self, chunk, done)

    monkeypatch.setattr(selection.ChunkPublisher, "_hand_on", noted)
    tick(dt.datetime.fromisoformat(wave["publish_at"]))
    run_consumers("publish_consumer", "notification_consumer", rounds=200)
    published_exactly(answers)
    assert handed_on  # the rest went back as new, smaller messages, not to the DLQ
    assert all(done < size for _, done, size in handed_on)
