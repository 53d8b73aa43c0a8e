"""Two full weekly cycles on a local stack of their own, over HTTP, moved through the week by the scheduler's
clock: join, Thursday close and draw, Friday publication, carry-over; the verifier says OK on the published
files; the funnel counts are exactly what this test registered."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.population import Person, PopulationGenerator, registry_row
from devstack.stack import EmbeddedStack
from functions.domain.lifecycle import FunnelStage
from tests.e2e.conftest import Api

QUOTA = 10


@pytest.fixture(scope="module")
def wave_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    settings = {"PRAKERJA_WAVE_QUOTA": str(QUOTA), "PRAKERJA_PUBLISH_CHUNK_SIZE": "4"}
    with EmbeddedStack(tmp_path_factory.mktemp("waves"), gateway_workers=3, settings=settings) as running:
        yield running


@pytest.fixture(scope="module")
def wave_api(wave_stack: EmbeddedStack) -> Api:
    return Api(wave_stack)


def enrol(api: Api, person: Person, verify_email: bool = True) -> dict[str, Any]:
    answer = api.register(person)
    assert answer.status_code == 202, answer.text
    applicant: dict[str, Any] = answer.json()
    if verify_email:
        code = api.email_code(applicant["applicant_id"])
        body = {"applicant_id": applicant["applicant_id"], "code": code}
        assert api.post("/verifications/email", body, applicant["access_token"]).status_code == 200
        final = api.wait_for_status(
            applicant["applicant_id"], applicant["access_token"], {"ELIGIBLE", "INELIGIBLE", "NIK_REJECTED"}
        )
        applicant["status"] = final["status"]
    return applicant


def join_all(api: Api, applicants: list[dict[str, Any]], wave: int) -> None:
    for applicant in applicants:
        joined = api.post(
            f"/waves/{wave}/applicants", {"applicant_id": applicant["applicant_id"]}, applicant["access_token"]
        )
        assert (joined.status_code, joined.json()["wave"]) == (201, wave), joined.text


def run_week(api: Api, stack: EmbeddedStack, tmp_path: Path) -> dict[str, Any]:
    """Thursday 16:00 WIB, then Friday 10:00 WIB, on the scheduler's clock; returns the published results."""
    wave = api.http.get(f"{api.base_url}/waves/current", timeout=10).json()
    # The close hands the pool to the pool-part workers; the last of them draws
    fired = stack.close_wave(dt.datetime.fromisoformat(wave["closes_at"]))
    assert any(f["result"] == [f"close {wave['number']}", f"read {wave['number']}"] for f in fired), fired
    fired = stack.advance_clock(dt.datetime.fromisoformat(wave["publish_at"]))
    assert any(f["result"] == [f"publish {wave['number']}"] for f in fired), fired
    deadline = time.monotonic() + 120
    while (answer := api.http.get(f"{api.base_url}/waves/{wave['number']}/results", timeout=10)).status_code != 200:
        assert time.monotonic() < deadline, "the wave was not published in time"
        time.sleep(0.5)
    results: dict[str, Any] = answer.json()
    manifest_path = tmp_path / f"manifest-{wave['number']}.json"
    ranked_path = tmp_path / f"ranked-{wave['number']}.csv"
    manifest_path.write_bytes(requests.get(results["manifest_url"], timeout=30).content)
    ranked_path.write_bytes(requests.get(results["ranked_list_url"], timeout=30).content)
    verified = subprocess.run(
        [sys.executable, "-m", "functions.verify_draw", str(manifest_path), str(ranked_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0 and verified.stdout.startswith("OK"), verified.stdout
    return results


def test_two_weekly_cycles_publish_verifiable_draws_and_the_funnel_adds_up(
    wave_api: Api, wave_stack: EmbeddedStack, tmp_path: Path
) -> None:
    # The stack opened wave 1 as a new deployment does, at the wave schedules' first run, before any request
    opened = wave_api.http.get(f"{wave_api.base_url}/waves/current", timeout=10).json()
    assert (opened["number"], opened["state"], len(opened["commitment"])) == (1, "OPEN", 64)
    people = PopulationGenerator(seed=404)
    eligible_first = [people.person() for _ in range(16)]
    barred = [people.person() for _ in range(3)]
    unknown = [people.person() for _ in range(2)]
    silent = [people.person() for _ in range(4)]  # never verify their email
    eligible_second = [people.person() for _ in range(6)]
    wave_api.add_to_registry(
        [registry_row(p) for p in eligible_first + eligible_second + silent]
        + [registry_row(p, occupation="DPRD") for p in barred]
    )
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = list(pool.map(lambda p: enrol(wave_api, p), eligible_first))
        rejected = list(pool.map(lambda p: enrol(wave_api, p), barred + unknown))
        list(pool.map(lambda p: enrol(wave_api, p, verify_email=False), silent))
    assert {a["status"] for a in first} == {"ELIGIBLE"}
    assert sorted(a["status"] for a in rejected) == ["INELIGIBLE"] * 3 + ["NIK_REJECTED"] * 2

    # Week one: everyone eligible joins wave 1
    join_all(wave_api, first, 1)
    week_one = run_week(wave_api, wave_stack, tmp_path)
    assert (week_one["pool_size"], week_one["selected_count"]) == (16, QUOTA)
    outcomes = [wave_api.applicant(a["applicant_id"], a["access_token"]).json() for a in first]
    accepted_first = [o for o in outcomes if o["status"] == "ACCEPTED"]
    carried = [o for o in outcomes if o["status"] == "JOINED"]
    assert len(accepted_first) == QUOTA and len(carried) == 6
    assert all(o["wave"] == 2 and o["previous_result"] == "NOT_SELECTED" for o in carried)
    assert len({o["card_number"] for o in accepted_first}) == QUOTA

    # Week two: the six carried over, without doing anything, and six newcomers
    second = [enrol(wave_api, p) for p in eligible_second]
    join_all(wave_api, second, 2)
    week_two = run_week(wave_api, wave_stack, tmp_path)
    assert (week_two["pool_size"], week_two["selected_count"]) == (12, QUOTA)
    assert week_two["commitment"] != week_one["commitment"]

    # The funnel is exactly what this test did
    token = wave_stack.admin_token("e2e@kemnaker.go.id")
    funnel = wave_api.http.get(
        f"{wave_api.base_url}/admin/stats", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    counts = {row["stage"]: row["count"] for row in funnel.json()["funnel"]}
    registered = 16 + 3 + 2 + 4 + 6
    # Every stage after acceptance but activation (which acceptance does) is still 0: nothing else happened here
    assert counts == {stage.value: 0 for stage in FunnelStage} | {
        "registered": registered,
        "email_verified": registered - 4,
        "nik_verified": 16 + 3 + 6,
        "eligible": 16 + 6,
        "joined": 16 + 6,
        "accepted": 2 * QUOTA,
        "activated": 2 * QUOTA,
    }
    percent = {row["stage"]: row["percent_of_registered"] for row in funnel.json()["funnel"]}
    assert percent["accepted"] == round(100 * 2 * QUOTA / registered, 2)
    # Publication queues the notices; they are sent after the results are readable, so wait for the queues first
    wave_stack.wait_until_idle(timeout_seconds=120)
    told = [m for m in wave_stack.outbox() if m["kind"] in ("acceptance", "not_selected")]
    assert sum(m["kind"] == "acceptance" and m["channel"] == "email" for m in told) == 2 * QUOTA
