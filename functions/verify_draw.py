"""Recomputes a published wave draw from its two public files and says OK or the first disagreement.

    python -m functions.verify_draw manifest.json ranked-list.csv

It needs nothing but Python's standard library, and shares no code with the draw it checks: it is an
independent reading of the published rules (see `functions/domain/draw.py`). It checks that the seed is the one
committed to when the wave opened, that the ranked list is the one the manifest names and holds exactly the pool
whose digest was published, that every rank key is HMAC-SHA256 of the row's draw id under the (beacon-mixed)
seed, that the list is in (tier, rank key) order, that the quota is the wave's base quota plus the places
revocations freed (refill), and that walking it with that quota, the province quotas and the family-card cap
selects exactly the applicants marked selected.

Rows carry per-wave draw ids (HMAC-SHA256 of the applicant id under a wave secret that is never published) and
per-wave family pseudonyms, not account ids or family cards: the verifier needs neither secret, only that equal
pseudonyms are one family. An applicant finds its own draw id on `GET /applicants/{id}`.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

ALGORITHM = "prakerja-draw-v2"
DRAW_ID_LENGTH = 64


class Disagreement(Exception):
    pass


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_pool(manifest: dict[str, Any], rows: list[dict[str, str]]) -> None:
    """The rows are the pool whose size and digest (over the sorted draw ids, one per line) were published."""
    if len(rows) != manifest["pool_size"]:
        raise Disagreement(f"the list has {len(rows)} rows, the manifest a pool of {manifest['pool_size']}")
    ids = sorted(row["draw_id"] for row in rows)
    if any(len(i) != DRAW_ID_LENGTH for i in ids) or len(set(ids)) != len(ids):
        raise Disagreement("draw ids must be distinct and 64 hex digits")
    if hashlib.sha256("".join(f"{i}\n" for i in ids).encode()).hexdigest() != manifest["pool_digest"]:
        raise Disagreement("the list's applicants are not the pool whose digest was published")


def verify(manifest: dict[str, Any], ranked_list: Path) -> int:
    """Raises `Disagreement` at the first thing that does not hold; returns the number of rows checked."""
    if manifest.get("algorithm") != ALGORITHM:
        raise Disagreement(f"unknown algorithm {manifest.get('algorithm')!r}")
    seed = bytes.fromhex(manifest["seed"])
    if hashlib.sha256(seed).hexdigest() != manifest["commitment"]:
        raise Disagreement("the seed does not match the commitment published when the wave opened")
    named = manifest.get("ranked_list") or {}
    if named.get("sha256") and _file_sha256(ranked_list) != named["sha256"]:
        raise Disagreement("the ranked list is not the file the manifest names (sha256 differs)")
    key = seed
    if manifest.get("beacon"):
        key = hashlib.sha256(seed + bytes.fromhex(manifest["beacon"]["randomness"])).digest()

    with ranked_list.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    _check_pool(manifest, rows)

    quota, cap = int(manifest["quota"]), int(manifest["kk_cap"])
    if "base_quota" not in manifest or "refill" not in manifest:
        raise Disagreement("the manifest does not say how its quota was made (base_quota and refill)")
    if quota != int(manifest["base_quota"]) + int(manifest["refill"]):
        raise Disagreement(f"quota {quota} is not base_quota {manifest['base_quota']} + refill {manifest['refill']}")
    province_quotas = {str(k): int(v) for k, v in (manifest.get("province_quotas") or {}).items()}
    prior: dict[str, int] = {}
    taken = 0
    per_province: dict[str, int] = {}
    per_family: dict[str, int] = {}
    previous: tuple[int, str] | None = None
    for number, row in enumerate(rows, start=1):
        where = f"row {number} ({row['draw_id']})"
        if int(row["rank"]) != number:
            raise Disagreement(f"{where}: rank {row['rank']}, expected {number}")
        expected_key = hmac.new(key, row["draw_id"].encode(), hashlib.sha256).hexdigest()
        if row["rank_key"] != expected_key:
            raise Disagreement(f"{where}: the rank key is not HMAC-SHA256(seed, draw id)")
        place = (int(row["tier"]), row["rank_key"])
        if previous is not None and place <= previous:
            raise Disagreement(f"{where}: out of (tier, rank key) order")
        previous = place
        family, province = row["family"], row["province"]
        family_prior = int(row["family_prior_accepted"])
        if prior.setdefault(family, family_prior) != family_prior:
            raise Disagreement(f"{where}: its family's earlier acceptances differ from another member's row")
        should = (
            taken < quota
            and family_prior + per_family.get(family, 0) < cap
            and per_province.get(province, 0) < province_quotas.get(province, quota + 1)
        )
        if should:
            taken += 1
            per_family[family] = per_family.get(family, 0) + 1
            per_province[province] = per_province.get(province, 0) + 1
        marked = row["selected"] == "true"
        if marked != should:
            raise Disagreement(f"{where}: marked {'selected' if marked else 'not selected'}, the rules say otherwise")
    if taken != manifest["selected_count"]:
        raise Disagreement(f"{taken} selected, the manifest says {manifest['selected_count']}")
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: python -m functions.verify_draw MANIFEST RANKED_LIST")
        return 2
    manifest = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    try:
        checked = verify(manifest, Path(args[1]))
    except Disagreement as disagreement:
        print(f"DISAGREE wave {manifest.get('wave')}: {disagreement}")
        return 1
    selected = manifest["selected_count"]
    print(f"OK wave {manifest['wave']}: {checked} applicants, {selected} selected, seed matches commitment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
