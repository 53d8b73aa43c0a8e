"""The draw: deterministic, tiers before rank keys, the family-card cap, province quotas, edge cases; and the
independent verifier agrees with it, and catches tampering."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from functions.domain.card import is_valid, new_card_number
from functions.domain.draw import (
    DrawResult,
    DrawRules,
    Member,
    Pool,
    commitment,
    draw_id,
    draw_ids,
    family_key,
    manifest,
    pool_digest,
    rank_order,
    ranked_list_lines,
    run_draw,
)
from functions.verify_draw import Disagreement, verify

SEED = bytes(range(32))
WAVE_SECRET = hashlib.sha256(b"wave secret of the tests").digest()


@dataclass(frozen=True)
class Person:
    applicant_id: str
    tier: int
    province: str
    family: str


def people(
    count: int, *, seed: int = 1, tiers: tuple[int, ...] = (1, 2, 3, 4), families: int | None = None
) -> list[Person]:
    rng = random.Random(seed)
    family_keys = [hashlib.sha256(f"kk{i}".encode()).hexdigest() for i in range(families or count)]
    return [
        Person(
            applicant_id=uuid.UUID(int=rng.getrandbits(128)).hex,
            tier=rng.choice(tiers),
            province=rng.choice(["31", "32", "33", "35"]),
            family=family_keys[i % len(family_keys)] if families else family_keys[i],
        )
        for i in range(count)
    ]


def in_wave(persons: list[Person], wave_secret: bytes = WAVE_SECRET) -> list[Member]:
    """The people as one wave's pool sees them: by their draw ids under that wave's secret."""
    return [Member(draw_id(wave_secret, p.applicant_id), p.tier, p.province, p.family) for p in persons]


def members(
    count: int, *, seed: int = 1, tiers: tuple[int, ...] = (1, 2, 3, 4), families: int | None = None
) -> list[Member]:
    return in_wave(people(count, seed=seed, tiers=tiers, families=families))


def draw(
    pool: list[Member],
    rules: DrawRules,
    prior: Mapping[bytes, int] | None = None,
    *,
    seed: bytes = SEED,
    beacon: bytes | None = None,
    wave_secret: bytes = WAVE_SECRET,
) -> DrawResult:
    return run_draw(Pool.of(pool), seed, rules, prior or {}, beacon, wave_secret=wave_secret)


def test_the_same_inputs_give_the_same_result() -> None:
    pool = members(500)
    first = draw(pool, DrawRules(quota=100))
    again = draw(list(reversed(pool)), DrawRules(quota=100))
    assert first.selected_in_rank_order() == again.selected_in_rank_order()
    assert first.pool_digest == again.pool_digest
    assert "".join(ranked_list_lines(first)) == "".join(ranked_list_lines(again))
    other_seed = draw(pool, DrawRules(quota=100), seed=bytes(32))
    assert other_seed.selected_in_rank_order() != first.selected_in_rank_order()


def test_draw_ids_are_hmac_of_the_applicant_id_under_the_wave_secret() -> None:
    persons = people(50)
    packed = "".join(p.applicant_id for p in persons).encode("ascii")
    expected = [hmac.new(WAVE_SECRET, p.applicant_id.encode(), hashlib.sha256).hexdigest() for p in persons]
    assert draw_ids(WAVE_SECRET, packed).decode("ascii") == "".join(expected)
    assert [m.draw_id for m in in_wave(persons)] == expected


def test_rank_key_is_hmac_of_the_draw_id_and_order_is_tier_then_key() -> None:
    result = draw(members(300), DrawRules(quota=50))
    rows = list(result.ranked_rows())
    for row in rows:
        assert row.rank_key == hmac.new(SEED, row.draw_id.encode(), hashlib.sha256).hexdigest()
    places = [(row.tier, row.rank_key) for row in rows]
    assert places == sorted(places)
    assert [row.rank for row in rows] == list(range(1, 301))


def test_every_better_tier_is_served_first() -> None:
    pool = members(200, tiers=(1, 4))
    result = draw(pool, DrawRules(quota=sum(m.tier == 1 for m in pool)))
    chosen = {row.draw_id for row in result.ranked_rows() if row.selected}
    assert chosen == {m.draw_id for m in pool if m.tier == 1}


def test_at_most_two_accepted_per_family_card_across_waves() -> None:
    pool = members(60, families=10)  # six applicants per family
    prior = {family_key(pool[0].family): 1, family_key(pool[1].family): 2}  # one of family 0, two of family 1 before
    result = draw(pool, DrawRules(quota=60, kk_cap=2), prior)
    per_family: dict[str, int] = {}
    for m, flag in zip(pool, (result.selected[i] for i in range(len(pool))), strict=True):
        per_family[m.family] = per_family.get(m.family, 0) + flag
    assert per_family[pool[0].family] == 1
    assert per_family[pool[1].family] == 0
    assert all(count <= 2 for count in per_family.values())
    assert result.selected_count == 2 * 8 + 1


def test_province_quotas_cap_each_province() -> None:
    pool = members(400)
    result = draw(pool, DrawRules(quota=200, province_quotas={"31": 10, "35": 0}))
    rows = [row for row in result.ranked_rows() if row.selected]
    assert sum(row.province == "31" for row in rows) == 10
    assert not any(row.province == "35" for row in rows)


def test_a_quota_larger_than_the_pool_selects_everyone() -> None:
    result = draw(members(25), DrawRules(quota=1000))
    assert result.selected_count == 25


def test_an_empty_pool_draws_nobody() -> None:
    result = draw([], DrawRules(quota=10))
    assert result.selected_count == 0
    assert list(result.ranked_rows()) == []
    assert result.pool_digest == hashlib.sha256(b"").hexdigest()


def test_pool_digest_is_over_sorted_draw_ids_one_per_line() -> None:
    expected = hashlib.sha256(("a" * 64 + "\n" + "b" * 64 + "\n" + "c" * 64 + "\n").encode()).hexdigest()
    assert pool_digest(("b" * 64 + "a" * 64 + "c" * 64).encode()) == expected
    assert pool_digest(("a" * 64 + "b" * 64 + "c" * 64).encode()) == expected
    pool = members(40)
    lines = "".join(f"{i}\n" for i in sorted(m.draw_id for m in pool))
    assert draw(pool, DrawRules(quota=5)).pool_digest == hashlib.sha256(lines.encode()).hexdigest()


@pytest.mark.parametrize("shared_prefix", [True, False])
def test_pool_digest_sorts_unordered_ids_even_when_their_first_digits_are_equal(shared_prefix: bool) -> None:
    rng = random.Random(7)
    ids = [f"{rng.getrandbits(256):064x}" for _ in range(500)]
    if shared_prefix:  # ids equal in their first 16 digits are ordered by the rest
        ids += ["0123456789abcdef" + "f" * 48, "0123456789abcdef" + "0" * 48]
    expected = hashlib.sha256("".join(f"{i}\n" for i in sorted(ids)).encode()).hexdigest()
    assert pool_digest("".join(ids).encode()) == expected


def test_equal_key_prefixes_are_settled_on_the_whole_key() -> None:
    # Two members with keys equal in their first 64 bits: the full keys decide.
    keys = bytes(8) + b"\x02" * 24 + bytes(8) + b"\x01" * 24 + b"\xff" * 32
    assert rank_order(bytes([1, 1, 1]), keys).tolist() == [1, 0, 2]


def test_beacon_changes_the_keys() -> None:
    pool = members(100)
    plain = draw(pool, DrawRules(quota=10))
    mixed = draw(pool, DrawRules(quota=10), beacon=b"\x07" * 32)
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
    tmp_path: Path,
    pool: list[Member],
    rules: DrawRules,
    prior: dict[bytes, int],
    beacon: bytes | None = None,
    *,
    wave_secret: bytes = WAVE_SECRET,
    seed: bytes = SEED,
    name: str = "ranked-list.csv",
) -> tuple[dict, Path]:  # type: ignore[type-arg]
    result = draw(pool, rules, prior, seed=seed, beacon=beacon, wave_secret=wave_secret)
    ranked = tmp_path / name
    ranked.write_text("".join(ranked_list_lines(result)))
    digest = hashlib.sha256(ranked.read_bytes()).hexdigest()
    beacon_field = {"source": "test", "round": 1, "randomness": beacon.hex()} if beacon else None
    document = manifest(
        result, wave=3, seed=seed, beacon=beacon_field, ranked_list={"name": ranked.name, "sha256": digest}
    )
    return json.loads(json.dumps(document)), ranked


@pytest.mark.parametrize("beacon", [None, b"\x09" * 32])
def test_the_verifier_agrees_with_the_draw(tmp_path: Path, beacon: bytes | None) -> None:
    pool = members(300, families=120)
    document, ranked = publish(
        tmp_path, pool, DrawRules(quota=90, province_quotas={"32": 5}), {family_key(pool[3].family): 1}, beacon
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


# --- what the published lists of two waves give away ------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _aes_open(key: bytes, block: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    return decryptor.update(block) + decryptor.finalize()


def test_two_waves_lists_share_no_id_or_family_pseudonym_and_nothing_opens_with_the_seed(tmp_path: Path) -> None:
    # The same people (three per family card) in two waves, each wave with its own secret and seed.
    persons = people(240, families=80, seed=7)
    secrets_, seeds = (b"\x11" * 32, b"\x22" * 32), (b"\x33" * 32, b"\x44" * 32)
    published = [
        publish(tmp_path, in_wave(persons, secret), DrawRules(quota=60), {}, wave_secret=secret, seed=seed, name=name)
        for secret, seed, name in zip(secrets_, seeds, ("wave1.csv", "wave2.csv"), strict=True)
    ]
    # The verifier recomputes both draws from their two files alone.
    for document, ranked in published:
        assert verify(document, ranked) == len(persons)
    first, second = (_rows(ranked) for _, ranked in published)
    texts = [ranked.read_text() + json.dumps(document) for document, ranked in published]

    # No account id, nor a family card's hash or key, appears anywhere in what is published.
    for person in persons:
        for text in texts:
            assert person.applicant_id not in text and person.family[:32] not in text
    # Draw ids and family pseudonyms of one wave are none of the other's, though the people are the same.
    assert not {row["draw_id"] for row in first} & {row["draw_id"] for row in second}
    assert not {row["family"] for row in first} & {row["family"] for row in second}
    # Within a wave, a family's rows still share one pseudonym (the KK cap can be re-checked), and only they do.
    by_draw_id = {m.draw_id: p.family for p, m in zip(persons, in_wave(persons, secrets_[0]), strict=True)}
    pseudonyms: dict[str, set[str]] = {}
    for row in first:
        pseudonyms.setdefault(by_draw_id[row["draw_id"]], set()).add(row["family"])
    assert all(len(names) == 1 for names in pseudonyms.values())
    assert len({name for names in pseudonyms.values() for name in names}) == 80

    # Nothing derives from, or opens with, what the manifest reveals: not the draw ids (HMAC of an account id
    # under the seed or the draw key), not the family pseudonyms (the former AES under a seed-derived key).
    family_keys = {family_key(p.family) for p in persons}
    for (document, _), rows in zip(published, (first, second), strict=True):
        seed = bytes.fromhex(document["seed"])
        for key in (seed, hashlib.sha256(seed).digest()):
            derived = {hmac.new(key, p.applicant_id.encode(), hashlib.sha256).hexdigest() for p in persons}
            assert not derived & {row["draw_id"] for row in rows}
            family_cipher = hmac.digest(key, b"family-pseudonym", "sha256")
            opened = {_aes_open(family_cipher, bytes.fromhex(row["family"])) for row in rows}
            assert not opened & family_keys


def test_the_list_names_draw_ids_not_account_ids(tmp_path: Path) -> None:
    persons = people(30)
    document, ranked = publish(tmp_path, in_wave(persons), DrawRules(quota=10), {})
    rows = _rows(ranked)
    assert list(rows[0]) == [
        "rank", "draw_id", "tier", "rank_key", "province", "family", "family_prior_accepted", "selected"
    ]  # fmt: skip
    assert {row["draw_id"] for row in rows} == {draw_id(WAVE_SECRET, p.applicant_id) for p in persons}
    assert document["algorithm"] == "prakerja-draw-v2"


def test_the_manifest_shows_how_its_quota_was_made_and_the_verifier_checks_it(tmp_path: Path) -> None:
    # Given a wave of base quota 10 whose draw took 3 places freed by revocations
    pool = members(50)
    result = draw(pool, DrawRules(quota=13), {})
    ranked = tmp_path / "ranked-list.csv"
    ranked.write_text("".join(ranked_list_lines(result)))
    document = manifest(result, wave=4, seed=SEED, beacon=None, ranked_list={"name": ranked.name}, refill=3)
    # Then the manifest carries base quota, refill and quota, and the draw verifies
    assert (document["base_quota"], document["refill"], document["quota"]) == (10, 3, 13)
    assert verify(document, ranked) == 50
    # When the refill is tampered with, or the quota no longer is their sum, the verifier disagrees
    for field, value in [("refill", 2), ("base_quota", 11)]:
        with pytest.raises(Disagreement, match="base_quota"):
            verify({**document, field: value}, ranked)
    without = {key: value for key, value in document.items() if key != "refill"}
    with pytest.raises(Disagreement, match="how its quota was made"):
        verify(without, ranked)
