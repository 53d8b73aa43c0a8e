"""The draw: deterministic, tiers before rank keys, the family-card cap, province quotas, edge cases; and the
independent verifier agrees with it, and catches tampering."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from pathlib import Path

import pytest

from functions.domain.card import is_valid, new_card_number
from functions.domain.draw import (
    DrawRules,
    Member,
    Pool,
    commitment,
    family_key,
    manifest,
    pool_digest,
    rank_order,
    ranked_list_lines,
    run_draw,
)
from functions.verify_draw import Disagreement, verify

SEED = bytes(range(32))


def members(
    count: int, *, seed: int = 1, tiers: tuple[int, ...] = (1, 2, 3, 4), families: int | None = None
) -> list[Member]:
    rng = random.Random(seed)
    family_keys = [hashlib.sha256(f"kk{i}".encode()).hexdigest() for i in range(families or count)]
    return [
        Member(
            applicant_id=uuid.UUID(int=rng.getrandbits(128)).hex,
            tier=rng.choice(tiers),
            province=rng.choice(["31", "32", "33", "35"]),
            family=family_keys[i % len(family_keys)] if families else family_keys[i],
        )
        for i in range(count)
    ]


def test_the_same_inputs_give_the_same_result() -> None:
    pool = members(500)
    first = run_draw(Pool.of(pool), SEED, DrawRules(quota=100), {})
    again = run_draw(Pool.of(list(reversed(pool))), SEED, DrawRules(quota=100), {})
    assert first.selected_in_rank_order() == again.selected_in_rank_order()
    assert first.pool_digest == again.pool_digest
    other_seed = run_draw(Pool.of(pool), bytes(32), DrawRules(quota=100), {})
    assert other_seed.selected_in_rank_order() != first.selected_in_rank_order()


def test_rank_key_is_hmac_of_the_applicant_id_and_order_is_tier_then_key() -> None:
    result = run_draw(Pool.of(members(300)), SEED, DrawRules(quota=50), {})
    rows = list(result.ranked_rows())
    for row in rows:
        assert row.rank_key == hmac.new(SEED, row.applicant_id.encode(), hashlib.sha256).hexdigest()
    places = [(row.tier, row.rank_key) for row in rows]
    assert places == sorted(places)
    assert [row.rank for row in rows] == list(range(1, 301))


def test_every_better_tier_is_served_first() -> None:
    pool = members(200, tiers=(1, 4))
    result = run_draw(Pool.of(pool), SEED, DrawRules(quota=sum(m.tier == 1 for m in pool)), {})
    chosen = {row.applicant_id for row in result.ranked_rows() if row.selected}
    assert chosen == {m.applicant_id for m in pool if m.tier == 1}


def test_at_most_two_accepted_per_family_card_across_waves() -> None:
    pool = members(60, families=10)  # six applicants per family
    prior = {family_key(pool[0].family): 1, family_key(pool[1].family): 2}  # one of family 0, two of family 1 before
    result = run_draw(Pool.of(pool), SEED, DrawRules(quota=60, kk_cap=2), prior)
    per_family: dict[str, int] = {}
    for m, flag in zip(pool, (result.selected[i] for i in range(len(pool))), strict=True):
        per_family[m.family] = per_family.get(m.family, 0) + flag
    assert per_family[pool[0].family] == 1
    assert per_family[pool[1].family] == 0
    assert all(count <= 2 for count in per_family.values())
    assert result.selected_count == 2 * 8 + 1


def test_province_quotas_cap_each_province() -> None:
    pool = members(400)
    result = run_draw(Pool.of(pool), SEED, DrawRules(quota=200, province_quotas={"31": 10, "35": 0}), {})
    rows = [row for row in result.ranked_rows() if row.selected]
    assert sum(row.province == "31" for row in rows) == 10
    assert not any(row.province == "35" for row in rows)


def test_a_quota_larger_than_the_pool_selects_everyone() -> None:
    result = run_draw(Pool.of(members(25)), SEED, DrawRules(quota=1000), {})
    assert result.selected_count == 25


def test_an_empty_pool_draws_nobody() -> None:
    result = run_draw(Pool.of([]), SEED, DrawRules(quota=10), {})
    assert result.selected_count == 0
    assert list(result.ranked_rows()) == []
    assert result.pool_digest == hashlib.sha256(b"").hexdigest()


def test_pool_digest_is_over_sorted_ids_one_per_line() -> None:
    expected = hashlib.sha256(("a" * 32 + "\n" + "b" * 32 + "\n" + "c" * 32 + "\n").encode()).hexdigest()
    assert pool_digest(("b" * 32 + "a" * 32 + "c" * 32).encode()) == expected
    assert pool_digest(("a" * 32 + "b" * 32 + "c" * 32).encode()) == expected


def test_equal_key_prefixes_are_settled_on_the_whole_key() -> None:
    # Two members with keys equal in their first 64 bits: the full keys decide.
    keys = bytes(8) + b"\x02" * 24 + bytes(8) + b"\x01" * 24 + b"\xff" * 32
    assert rank_order(bytes([1, 1, 1]), keys).tolist() == [1, 0, 2]


def test_beacon_changes_the_keys() -> None:
    pool = Pool.of(members(100))
    plain = run_draw(pool, SEED, DrawRules(quota=10), {})
    mixed = run_draw(pool, SEED, DrawRules(quota=10), {}, beacon=b"\x07" * 32)
    assert plain.selected_in_rank_order() != mixed.selected_in_rank_order()


def test_card_numbers_are_sixteen_digits_random_unique_and_luhn_valid() -> None:
    cards = [new_card_number() for _ in range(6000)]
    assert len(set(cards)) == 6000
    assert all(len(card) == 16 and card.isdigit() and is_valid(card) for card in cards)
    # Random: neither ordered as issued nor numbered consecutively (the old scheme was 7 + wave + place + Luhn).
    assert cards != sorted(cards)
    assert len({card[1:4] for card in cards}) > 100
    assert not is_valid("7001000000000013")
    assert not is_valid(cards[0][:-1] + str((int(cards[0][-1]) + 1) % 10))


# --- the verifier ----------------------------------------------------------------------------------------------


def publish(
    tmp_path: Path, pool: list[Member], rules: DrawRules, prior: dict[str, int], beacon: bytes | None = None
) -> tuple[dict, Path]:  # type: ignore[type-arg]
    result = run_draw(Pool.of(pool), SEED, rules, prior, beacon=beacon)
    ranked = tmp_path / "ranked-list.csv"
    ranked.write_text("".join(ranked_list_lines(result)))
    digest = hashlib.sha256(ranked.read_bytes()).hexdigest()
    beacon_field = {"source": "test", "round": 1, "randomness": beacon.hex()} if beacon else None
    document = manifest(
        result, wave=3, seed=SEED, beacon=beacon_field, ranked_list={"name": ranked.name, "sha256": digest}
    )
    return json.loads(json.dumps(document)), ranked


@pytest.mark.parametrize("beacon", [None, b"\x09" * 32])
def test_the_verifier_agrees_with_the_draw(tmp_path: Path, beacon: bytes | None) -> None:
    pool = members(300, families=120)
    document, ranked = publish(
        tmp_path, pool, DrawRules(quota=90, province_quotas={"32": 5}), {pool[3].family: 1}, beacon
    )
    assert verify(document, ranked) == 300
    assert document["commitment"] == commitment(SEED)


def test_the_verifier_catches_a_wrong_seed(tmp_path: Path) -> None:
    document, ranked = publish(tmp_path, members(50), DrawRules(quota=10), {})
    document["seed"] = "00" * 32
    with pytest.raises(Disagreement, match="commitment"):
        verify(document, ranked)


def test_the_verifier_catches_a_swapped_selection(tmp_path: Path) -> None:
    document, ranked = publish(tmp_path, members(50), DrawRules(quota=10), {})
    lines = ranked.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(",true\n", ",false\n")
    lines[20] = lines[20].replace(",false\n", ",true\n")
    ranked.write_text("".join(lines))
    document["ranked_list"]["sha256"] = hashlib.sha256(ranked.read_bytes()).hexdigest()
    with pytest.raises(Disagreement, match="row 1"):
        verify(document, ranked)


def test_the_verifier_catches_an_applicant_left_out(tmp_path: Path) -> None:
    document, ranked = publish(tmp_path, members(50), DrawRules(quota=10), {})
    lines = ranked.read_text().splitlines(keepends=True)
    ranked.write_text("".join(lines[:-1]))
    document["ranked_list"]["sha256"] = hashlib.sha256(ranked.read_bytes()).hexdigest()
    document["pool_size"] = 49
    with pytest.raises(Disagreement, match="pool whose digest"):
        verify(document, ranked)


def test_the_verifier_catches_a_file_that_is_not_the_published_one(tmp_path: Path) -> None:
    document, ranked = publish(tmp_path, members(20), DrawRules(quota=5), {})
    ranked.write_text(ranked.read_text() + "\n")
    with pytest.raises(Disagreement, match="sha256"):
        verify(document, ranked)
