"""A public randomness beacon (drand's HTTP API): a value nobody knew before the wave closed (RFC 3797's idea).

Round r of a drand chain is emitted at genesis + (r - 1) * period; the draw uses the first round emitted after
the close. Off unless `PRAKERJA_BEACON_URL` is set.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import urllib3

from functions.settings import settings


class BeaconNotYet(Exception):
    """The round after the close has not been emitted (or fetched) yet; the draw waits for it."""


@dataclass(frozen=True)
class BeaconValue:
    source: str
    round: int
    randomness: str  # hex

    def as_manifest(self) -> dict[str, object]:
        return {"source": self.source, "round": self.round, "randomness": self.randomness}


def first_round_after(moment: dt.datetime, genesis_time: int, period_seconds: int) -> int:
    elapsed = int(moment.timestamp()) - genesis_time
    return max(1, elapsed // period_seconds + 2)


def value_after(moment: dt.datetime) -> BeaconValue | None:
    current = settings()
    if not current.beacon_url:
        return None
    round_number = first_round_after(moment, current.beacon_genesis_time, current.beacon_period_seconds)
    url = f"{current.beacon_url.rstrip('/')}/public/{round_number}"
    try:
        answer = urllib3.request("GET", url, timeout=5.0, retries=urllib3.Retry(total=2, backoff_factor=0.5))
    except urllib3.exceptions.HTTPError as error:
        raise BeaconNotYet(type(error).__name__) from None
    if answer.status != 200:
        raise BeaconNotYet(f"beacon answered {answer.status} for round {round_number}")
    document = json.loads(answer.data)
    return BeaconValue(current.beacon_url, int(document["round"]), str(document["randomness"]))
