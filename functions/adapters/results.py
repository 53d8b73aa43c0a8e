"""The results bucket: each wave's manifest and ranked list, and links to them for the public."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable
from typing import Any

from functions.aws_clients import client
from functions.settings import settings

LINK_SECONDS = 3600


def manifest_key(wave: int) -> str:
    return f"waves/{wave}/manifest.json"


def ranked_list_key(wave: int) -> str:
    return f"waves/{wave}/ranked-list.csv"


def pool_part_key(wave: int, part: str) -> str:
    """A closed pool's part file: internal to the draw, outside the published `waves/` prefix and never linked."""
    return f"pool-parts/{wave}/{part}.bin"


def put_bytes(key: str, data: bytes) -> None:
    client("s3").put_object(
        Bucket=settings().results_bucket, Key=key, Body=data, ContentType="application/octet-stream"
    )


def get_bytes(key: str) -> bytes:
    body: bytes = client("s3").get_object(Bucket=settings().results_bucket, Key=key)["Body"].read()
    return body


def put_lines(key: str, lines: Iterable[str]) -> str:
    """Uploads text written line by line (spooled to disk past 64 MiB) and returns its SHA-256."""
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
        for line in lines:
            data = line.encode()
            digest.update(data)
            spool.write(data)
        spool.seek(0)
        client("s3").upload_fileobj(spool, settings().results_bucket, key, ExtraArgs={"ContentType": "text/csv"})
    return digest.hexdigest()


def put_json(key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, sort_keys=True).encode()
    client("s3").put_object(Bucket=settings().results_bucket, Key=key, Body=body, ContentType="application/json")


def get_json(key: str) -> dict[str, Any]:
    answer = client("s3").get_object(Bucket=settings().results_bucket, Key=key)
    document: dict[str, Any] = json.loads(answer["Body"].read())
    return document


def get_lines(key: str) -> Iterable[str]:
    answer = client("s3").get_object(Bucket=settings().results_bucket, Key=key)
    for line in answer["Body"].iter_lines():
        yield line.decode()


def link(key: str) -> str:
    url: str = client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": settings().results_bucket, "Key": key}, ExpiresIn=LINK_SECONDS
    )
    return url
