"""The draw, exactly as DESIGN.md publishes it, so that anyone can recompute it from the published files.

    commitment  = SHA-256(seed), published when the wave opens
    key         = seed, or SHA-256(seed || beacon value) when a public randomness beacon is configured
    pool digest = SHA-256 of the pool's applicant ids, sorted, each followed by "\\n"
    rank key    = HMAC-SHA256(key, applicant id)
    order       = by (priority tier, rank key)
    selection   = walk the order; skip an applicant whose family card (KK) already has `kk_cap` acceptances
                  (earlier waves and this one), or whose province has reached its quota; stop at the wave quota
    family      = a per-wave pseudonym of the family card: AES-256 (one block, no chaining) of the family's keyed
                  hash under HMAC-SHA256(key, "family-pseudonym"), so families can be grouped in one wave's list
                  without being recognisable in another's

`functions/verify_draw.py` is an independent, standard-library-only recomputation of the same rules.
Speed: the HMACs are the floor; ordering uses numpy, and only the selected prefix of the order is walked in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ALGORITHM = "prakerja-draw-v1"
_CHUNK = 100_000


@dataclass(frozen=True)
class DrawRules:
    quota: int
    kk_cap: int = 2
    province_quotas: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Member:
    applicant_id: str
    tier: int
    province: str
    family: str  # hex keyed hash of the family card number


@dataclass
class Pool:
    """The frozen pool, by column (a pool of ten million is a list of ids, not ten million objects)."""

    applicant_ids: list[str]
    tiers: bytes  # one byte per member, 1-4
    provinces: list[str]  # two-digit province codes
    families: list[str]  # hex keyed hashes of family cards

    @classmethod
    def of(cls, members: Iterable[Member]) -> Pool:
        rows = list(members)
        return cls(
            [m.applicant_id for m in rows],
            bytes(m.tier for m in rows),
            [m.province for m in rows],
            [m.family for m in rows],
        )

    def __len__(self) -> int:
        return len(self.applicant_ids)


@dataclass(frozen=True)
class RankedRow:
    rank: int
    applicant_id: str
    tier: int
    rank_key: str
    province: str
    family: str
    family_prior_accepted: int
    selected: bool


@dataclass
class DrawResult:
    pool: Pool
    rules: DrawRules
    pool_digest: str
    order: list[int]  # member indices by (tier, rank key)
    rank_keys: bytes  # 32 bytes per member, in pool order
    selected: bytearray  # 1 per selected member, in pool order
    pseudonyms: bytes  # 16 bytes per member, in pool order
    prior_accepted: Mapping[str, int]

    @property
    def selected_count(self) -> int:
        return sum(self.selected)

    def selected_in_rank_order(self) -> list[str]:
        ids = self.pool.applicant_ids
        return [ids[i] for i in self.order if self.selected[i]]

    def ranked_rows(self) -> Iterator[RankedRow]:
        pool = self.pool
        for rank, index in enumerate(self.order, start=1):
            family = pool.families[index]
            yield RankedRow(
                rank=rank,
                applicant_id=pool.applicant_ids[index],
                tier=pool.tiers[index],
                rank_key=self.rank_keys[32 * index : 32 * index + 32].hex(),
                province=pool.provinces[index],
                family=self.pseudonyms[16 * index : 16 * index + 16].hex(),
                family_prior_accepted=self.prior_accepted.get(family, 0),
                selected=bool(self.selected[index]),
            )


def commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def draw_key(seed: bytes, beacon: bytes | None = None) -> bytes:
    return seed if beacon is None else hashlib.sha256(seed + beacon).digest()


def _is_sorted(values: list[str]) -> bool:
    return all(map(operator.lt, values, islice(values, 1, None)))


def pool_digest(applicant_ids: list[str]) -> str:
    ordered = applicant_ids if _is_sorted(applicant_ids) else sorted(applicant_ids)
    digest = hashlib.sha256()
    for start in range(0, len(ordered), _CHUNK):
        digest.update("".join(f"{i}\n" for i in ordered[start : start + _CHUNK]).encode())
    return digest.hexdigest()


def rank_keys(key: bytes, applicant_ids: list[str]) -> bytes:
    """HMAC-SHA256(key, id) for every id, 32 bytes each, concatenated in pool order."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    out = bytearray()
    for start in range(0, len(applicant_ids), _CHUNK):
        parts = []
        for applicant_id in applicant_ids[start : start + _CHUNK]:
            mac = keyed.copy()  # the keyed state is set up once, not ten million times
            mac.update(applicant_id.encode())
            parts.append(mac.digest())
        out += b"".join(parts)
    return bytes(out)


def family_pseudonyms(key: bytes, families: list[str]) -> bytes:
    """16 bytes per member: one AES-256 block of the family's keyed hash (its first 128 bits)."""
    if not families:
        return b""
    cipher_key = hmac.digest(key, b"family-pseudonym", "sha256")
    encryptor = Cipher(algorithms.AES(cipher_key), modes.ECB()).encryptor()  # noqa: S305 - one block per family
    return encryptor.update(bytes.fromhex("".join(f[:32] for f in families))) + encryptor.finalize()


def rank_order(tiers: bytes, keys: bytes) -> list[int]:
    """Member indices by (tier, rank key): numpy sorts by tier and the keys' first 64 bits; equal prefixes
    (about one in a million draws of ten million) are settled on the whole key."""
    import numpy as np

    count = len(tiers)
    if count == 0:
        return []
    prefix = np.frombuffer(keys, dtype=">u8")[0::4].astype(np.uint64)
    tier = np.frombuffer(tiers, dtype=np.uint8)
    order = np.argsort(prefix, kind="stable")
    order = order[np.argsort(tier[order], kind="stable")]
    sorted_prefix, sorted_tier = prefix[order], tier[order]
    ties = np.flatnonzero((sorted_prefix[1:] == sorted_prefix[:-1]) & (sorted_tier[1:] == sorted_tier[:-1]))
    result: list[int] = order.tolist()
    positions = ties.tolist()
    group = 0
    while group < len(positions):
        start = end = positions[group]
        while group + 1 < len(positions) and positions[group + 1] == end + 1:
            group += 1
            end += 1
        result[start : end + 2] = sorted(result[start : end + 2], key=lambda i: keys[32 * i : 32 * i + 32])
        group += 1
    return result


def select(pool: Pool, order: list[int], rules: DrawRules, prior_accepted: Mapping[str, int]) -> bytearray:
    selected = bytearray(len(pool))
    taken = 0
    per_province: dict[str, int] = {}
    per_family: dict[str, int] = {}
    for index in order:
        if taken >= rules.quota:
            break
        family = pool.families[index]
        if prior_accepted.get(family, 0) + per_family.get(family, 0) >= rules.kk_cap:
            continue
        province = pool.provinces[index]
        province_quota = rules.province_quotas.get(province)
        if province_quota is not None and per_province.get(province, 0) >= province_quota:
            continue
        selected[index] = 1
        taken += 1
        per_family[family] = per_family.get(family, 0) + 1
        per_province[province] = per_province.get(province, 0) + 1
    return selected


def run_draw(
    pool: Pool, seed: bytes, rules: DrawRules, prior_accepted: Mapping[str, int], beacon: bytes | None = None
) -> DrawResult:
    key = draw_key(seed, beacon)
    keys = rank_keys(key, pool.applicant_ids)
    order = rank_order(pool.tiers, keys)
    return DrawResult(
        pool=pool,
        rules=rules,
        pool_digest=pool_digest(pool.applicant_ids),
        order=order,
        rank_keys=keys,
        selected=select(pool, order, rules, prior_accepted),
        pseudonyms=family_pseudonyms(key, pool.families),
        prior_accepted=prior_accepted,
    )


def manifest(
    result: DrawResult, *, wave: int, seed: bytes, beacon: dict[str, Any] | None, ranked_list: dict[str, str]
) -> dict[str, Any]:
    """The published manifest: everything needed, with the ranked list, to recompute the draw."""
    rules = result.rules
    return {
        "wave": wave,
        "algorithm": ALGORITHM,
        "quota": rules.quota,
        "kk_cap": rules.kk_cap,
        "province_quotas": dict(sorted(rules.province_quotas.items())),
        "pool_size": len(result.pool),
        "pool_digest": result.pool_digest,
        "commitment": commitment(seed),
        "seed": seed.hex(),
        "beacon": beacon,
        "selected_count": result.selected_count,
        "ranked_list": ranked_list,
    }


RANKED_LIST_COLUMNS = (
    "rank",
    "applicant_id",
    "tier",
    "rank_key",
    "province",
    "family",
    "family_prior_accepted",
    "selected",
)


def ranked_list_lines(result: DrawResult) -> Iterator[str]:
    """The ranked list as CSV lines (header first), in rank order."""
    yield ",".join(RANKED_LIST_COLUMNS) + "\n"
    for row in result.ranked_rows():
        yield (
            f"{row.rank},{row.applicant_id},{row.tier},{row.rank_key},{row.province},{row.family},"
            f"{row.family_prior_accepted},{'true' if row.selected else 'false'}\n"
        )
