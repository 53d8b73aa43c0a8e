"""The draw, exactly as the README's "How anyone verifies a draw" and `verify_draw` state it, so that anyone can
recompute it from the published files.

    commitment  = SHA-256(seed), published when the wave opens
    draw id     = HMAC-SHA256(wave secret, applicant id), as 64 lowercase hex digits: the applicant's id in this
                  wave's draw only. The wave secret is a per-wave 32-byte secret, generated when the wave opens
                  and never published, so draw ids of one person in two waves cannot be linked (the applicant
                  sees its own on `GET /applicants/{id}`)
    key         = seed, or SHA-256(seed || beacon value) when a public randomness beacon is configured
    pool digest = SHA-256 of the pool's draw ids, sorted, each followed by "\\n"
    rank key    = HMAC-SHA256(key, draw id)
    order       = by (priority tier, rank key)
    selection   = walk the order; skip an applicant whose family card (KK) already has `kk_cap` acceptances
                  (earlier waves and this one), or whose province has reached its quota; stop at the wave quota
    family      = a per-wave pseudonym of the family card: AES-256 (one block, no chaining) of the family's keyed
                  hash under HMAC-SHA256(wave secret, "family-pseudonym"). Equal within a wave, so the list can
                  be checked against the family-card cap; keyed with the unpublished wave secret, not the seed,
                  so nothing in the published files opens it and a family cannot be followed from wave to wave

`functions/verify_draw.py` is an independent, standard-library-only recomputation of the same rules.
Speed: the HMACs are the floor; ordering uses numpy, and only the selected prefix of the order is walked in Python.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from functions.domain.rules import KK_CAP

ALGORITHM = "prakerja-draw-v2"
_CHUNK = 100_000


@dataclass(frozen=True)
class DrawRules:
    quota: int
    kk_cap: int = KK_CAP
    province_quotas: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Member:
    draw_id: str  # 64 lowercase hex digits: `draw_id(wave secret, applicant id)`
    tier: int
    province: str  # two digits
    family: str  # hex keyed hash of the family card number


ID_WIDTH = 64  # a draw id: the hex HMAC-SHA256 of an applicant id
APPLICANT_ID_WIDTH = 32
PROVINCE_WIDTH = 2
FAMILY_WIDTH = 16


def family_key(keyed_hash: str) -> bytes:
    """The first 128 bits of a family card's keyed hash: what the draw groups and caps families by."""
    return bytes.fromhex(keyed_hash[: 2 * FAMILY_WIDTH])


@dataclass
class Pool:
    """The frozen pool, packed by column: ten million members are a few hundred megabytes of bytes, not ten
    million objects. Draw ids are fixed-width hex, so the packed ids sort and hash like the strings."""

    ids: bytes  # ASCII draw ids, ID_WIDTH characters per member
    tiers: bytes  # one byte per member, 1-4
    provinces: bytes  # ASCII, PROVINCE_WIDTH digits per member
    families: bytes  # FAMILY_WIDTH bytes per member

    @classmethod
    def of(cls, members: Iterable[Member]) -> Pool:
        rows = list(members)
        if any(len(m.draw_id) != ID_WIDTH or len(m.province) != PROVINCE_WIDTH for m in rows):
            raise ValueError("draw ids must be 64 hex digits and provinces 2 digits")
        return cls(
            "".join(m.draw_id for m in rows).encode("ascii"),
            bytes(m.tier for m in rows),
            "".join(m.province for m in rows).encode("ascii"),
            b"".join(family_key(m.family) for m in rows),
        )

    def __len__(self) -> int:
        return len(self.tiers)

    def draw_id(self, index: int) -> str:
        return self.ids[ID_WIDTH * index : ID_WIDTH * (index + 1)].decode("ascii")

    def province(self, index: int) -> str:
        return self.provinces[PROVINCE_WIDTH * index : PROVINCE_WIDTH * (index + 1)].decode("ascii")

    def family(self, index: int) -> bytes:
        return self.families[FAMILY_WIDTH * index : FAMILY_WIDTH * (index + 1)]


@dataclass(frozen=True)
class RankedRow:
    rank: int
    draw_id: str
    tier: int
    rank_key: str
    province: str
    family: str
    family_prior_accepted: int
    selected: bool


def _chunks(order: Any) -> Iterator[list[int]]:
    """A numpy index array as Python ints, a slice at a time (a list of ten million ints is 360 MB)."""
    for start in range(0, len(order), _CHUNK):
        yield order[start : start + _CHUNK].tolist()


@dataclass
class DrawResult:
    pool: Pool
    rules: DrawRules
    pool_digest: str
    order: Any  # numpy array: member indices by (tier, rank key)
    rank_keys: bytes  # 32 bytes per member, in pool order
    selected: bytearray  # 1 per selected member, in pool order
    pseudonyms: bytes  # 16 bytes per member, in pool order
    prior_accepted: Mapping[bytes, int]

    @property
    def selected_count(self) -> int:
        return sum(self.selected)

    def selected_in_rank_order(self) -> list[str]:
        return [self.pool.draw_id(i) for chunk in _chunks(self.order) for i in chunk if self.selected[i]]

    def ranked_rows(self) -> Iterator[RankedRow]:
        pool = self.pool
        rank = 0
        for chunk in _chunks(self.order):
            for index in chunk:
                rank += 1
                yield RankedRow(
                    rank=rank,
                    draw_id=pool.draw_id(index),
                    tier=pool.tiers[index],
                    rank_key=self.rank_keys[32 * index : 32 * index + 32].hex(),
                    province=pool.province(index),
                    family=self.pseudonyms[16 * index : 16 * index + 16].hex(),
                    family_prior_accepted=self.prior_accepted.get(pool.family(index), 0),
                    selected=bool(self.selected[index]),
                )


def commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def draw_key(seed: bytes, beacon: bytes | None = None) -> bytes:
    return seed if beacon is None else hashlib.sha256(seed + beacon).digest()


def pool_digest(ids: bytes) -> str:
    """SHA-256 of the ids in ascending order, each followed by a newline (sorted here if they are not)."""
    import numpy as np

    digest = hashlib.sha256()
    packed = np.frombuffer(ids, dtype=f"S{ID_WIDTH}")
    order: Any = None
    if len(packed) > 1 and not bool(np.all(packed[1:] > packed[:-1])):
        # Draw ids are hex, so their first 16 digits read as a number sort like the ids: ordering ten million
        # 64-bit numbers takes a second, a string sort of the whole ids half a minute. Equal prefixes (about one
        # in a hundred pools of ten million) are settled by sorting the whole ids.
        columns = np.frombuffer(ids, dtype=np.uint8).reshape(-1, ID_WIDTH)
        prefix = np.frombuffer(bytes.fromhex(columns[:, :16].tobytes().decode("ascii")), dtype=">u8")
        order = np.argsort(prefix, kind="stable")
        if bool(np.any(prefix[order][1:] == prefix[order][:-1])):
            order = np.argsort(packed, kind="stable")
    for start in range(0, len(packed), _CHUNK):
        block = packed[start : start + _CHUNK] if order is None else packed[order[start : start + _CHUNK]]
        lines = np.empty((len(block), ID_WIDTH + 1), dtype=np.uint8)
        lines[:, :ID_WIDTH] = np.frombuffer(block.tobytes(), dtype=np.uint8).reshape(-1, ID_WIDTH)
        lines[:, ID_WIDTH] = ord("\n")
        digest.update(lines.tobytes())
    return digest.hexdigest()


def _macs(key: bytes, ids: bytes, width: int, *, hexed: bool = False) -> bytes:
    """HMAC-SHA256(key, id) of every `width`-character id packed in `ids`, in order: 32 bytes each, or 64 hex
    digits each when `hexed`."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    view = memoryview(ids)
    count = len(ids) // width
    out = bytearray()
    for start in range(0, count, _CHUNK):
        parts = []
        for offset in range(width * start, width * min(count, start + _CHUNK), width):
            mac = keyed.copy()  # the keyed state is set up once, not ten million times
            mac.update(view[offset : offset + width])
            parts.append(mac.hexdigest().encode("ascii") if hexed else mac.digest())
        out += b"".join(parts)
    return bytes(out)


def draw_id(wave_secret: bytes, applicant_id: str) -> str:
    """An applicant's id in one wave's draw: HMAC-SHA256(wave secret, applicant id), 64 hex digits."""
    return hmac.new(wave_secret, applicant_id.encode("ascii"), hashlib.sha256).hexdigest()


def draw_ids(wave_secret: bytes, applicant_ids: bytes) -> bytes:
    """`draw_id` of every packed 32-character applicant id, packed the same way (ID_WIDTH ASCII each)."""
    return _macs(wave_secret, applicant_ids, APPLICANT_ID_WIDTH, hexed=True)


def rank_keys(key: bytes, ids: bytes) -> bytes:
    """HMAC-SHA256(key, draw id) for every member, 32 bytes each, in pool order."""
    return _macs(key, ids, ID_WIDTH)


def family_pseudonyms(wave_secret: bytes, families: bytes) -> bytes:
    """16 bytes per member: one AES-256 block of the family key, under a key derived from the wave's secret
    (never from the published seed)."""
    if not families:
        return b""
    cipher_key = hmac.digest(wave_secret, b"family-pseudonym", "sha256")
    encryptor = Cipher(algorithms.AES(cipher_key), modes.ECB()).encryptor()  # noqa: S305 - one block per family
    return encryptor.update(families) + encryptor.finalize()


def rank_order(tiers: bytes, keys: bytes) -> Any:
    """Member indices by (tier, rank key), as a numpy array: sorted by tier and the keys' first 64 bits; equal
    prefixes (about one in a million draws of ten million) are settled on the whole key."""
    import numpy as np

    if not tiers:
        return np.empty(0, dtype=np.int64)
    prefix = np.frombuffer(keys, dtype=">u8")[0::4].astype(np.uint64)
    tier = np.frombuffer(tiers, dtype=np.uint8)
    order = np.argsort(prefix, kind="stable")
    order = order[np.argsort(tier[order], kind="stable")]
    sorted_prefix, sorted_tier = prefix[order], tier[order]
    positions = np.flatnonzero(
        (sorted_prefix[1:] == sorted_prefix[:-1]) & (sorted_tier[1:] == sorted_tier[:-1])
    ).tolist()
    group = 0
    while group < len(positions):
        start = end = positions[group]
        while group + 1 < len(positions) and positions[group + 1] == end + 1:
            group += 1
            end += 1
        members = order[start : end + 2].tolist()
        order[start : end + 2] = sorted(members, key=lambda i: keys[32 * i : 32 * i + 32])
        group += 1
    return order


def select(pool: Pool, order: Any, rules: DrawRules, prior_accepted: Mapping[bytes, int]) -> bytearray:
    selected = bytearray(len(pool))
    taken = 0
    per_province: dict[str, int] = {}
    per_family: dict[bytes, int] = {}
    for chunk in _chunks(order):
        for index in chunk:
            if taken >= rules.quota:
                return selected
            family = pool.family(index)
            if prior_accepted.get(family, 0) + per_family.get(family, 0) >= rules.kk_cap:
                continue
            province = pool.province(index)
            province_quota = rules.province_quotas.get(province)
            if province_quota is not None and per_province.get(province, 0) >= province_quota:
                continue
            selected[index] = 1
            taken += 1
            per_family[family] = per_family.get(family, 0) + 1
            per_province[province] = per_province.get(province, 0) + 1
    return selected


def run_draw(
    pool: Pool,
    seed: bytes,
    rules: DrawRules,
    prior_accepted: Mapping[bytes, int],
    beacon: bytes | None = None,
    *,
    wave_secret: bytes,
) -> DrawResult:
    """`pool` holds draw ids (`draw_ids` under `wave_secret`); `prior_accepted` maps family keys (`family_key`)
    to their acceptances in earlier waves."""
    key = draw_key(seed, beacon)
    keys = rank_keys(key, pool.ids)
    order = rank_order(pool.tiers, keys)
    return DrawResult(
        pool=pool,
        rules=rules,
        pool_digest=pool_digest(pool.ids),
        order=order,
        rank_keys=keys,
        selected=select(pool, order, rules, prior_accepted),
        pseudonyms=family_pseudonyms(wave_secret, pool.families),
        prior_accepted=prior_accepted,
    )


def manifest(
    result: DrawResult,
    *,
    wave: int,
    seed: bytes,
    beacon: dict[str, Any] | None,
    ranked_list: dict[str, str],
    early_close: dict[str, str] | None = None,
    refill: int = 0,
) -> dict[str, Any]:
    """The published manifest: everything needed, with the ranked list, to recompute the draw; how the quota was
    made (`base_quota`, the wave's own, and `refill`, the places revocations freed while it was open, included in
    `rules.quota`); and, when an admin closed the wave before its `closes_at`, who did, why and when
    (`early_close`)."""
    rules = result.rules
    return {
        "wave": wave,
        "algorithm": ALGORITHM,
        "base_quota": rules.quota - refill,
        "refill": refill,
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
        "early_close": early_close,
    }


RANKED_LIST_COLUMNS = (
    "rank",
    "draw_id",
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
            f"{row.rank},{row.draw_id},{row.tier},{row.rank_key},{row.province},{row.family},"
            f"{row.family_prior_accepted},{'true' if row.selected else 'false'}\n"
        )
