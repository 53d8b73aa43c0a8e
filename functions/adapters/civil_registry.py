"""The civil registry (Dukcapil) behind one small interface, and its HTTP JSON client.

The client is deliberately gentle (`functions.adapters.http_client`): short timeouts, a few retries with backoff and
jitter, a circuit breaker, and a requests-per-second ceiling, so that a million queued checks reach the registry at
the rate it can bear.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Protocol

from functions import caches
from functions.adapters.http_client import JsonService
from functions.domain.eligibility import RegistryPerson
from functions.resources import (
    INCENTIVE_MAX_CONCURRENCY,
    NIK_CHECK_MAX_CONCURRENCY,
    NIK_CHECK_SHARE_OF_REGISTRY,
    SCREENING_SHARE_OF_REGISTRY,
)

LOOKUP_PATH = "/v1/nik-lookups"


class RegistryUnavailable(Exception):
    """The registry did not answer usably; the check must be tried again later."""


class CivilRegistry(Protocol):
    def lookup(self, nik: str) -> RegistryPerson | None:
        """The registry's record for this NIK, or None when the registry holds no such NIK."""


def person_from_json(document: dict[str, Any]) -> RegistryPerson:
    return RegistryPerson(
        nik=str(document["nik"]),
        kk_number=str(document["kk_number"]),
        full_name=str(document["full_name"]),
        birth_date=dt.date.fromisoformat(str(document["birth_date"])),
        gender=str(document["gender"]),
        occupation=str(document["occupation"]),
        student=bool(document["student"]),
        past_recipient=bool(document["past_recipient"]),
        social_aid=bool(document["social_aid"]),
    )


class HttpCivilRegistry(JsonService):
    unavailable = RegistryUnavailable

    def lookup(self, nik: str) -> RegistryPerson | None:
        return self.call(lambda: self._lookup(nik))

    def _lookup(self, nik: str) -> RegistryPerson | None:
        # The look-up is a POST (a NIK stays out of URLs and access logs), but it changes nothing: safe to repeat.
        answer = self.send("POST", LOOKUP_PATH, {"nik": nik})
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise RegistryUnavailable(f"registry answered {answer.status}")
        return person_from_json(json.loads(answer.data))


@caches.per_process
def registry() -> CivilRegistry:
    """The NIK checks' client: their share of the registry's ceiling."""
    return HttpCivilRegistry.from_settings("registry", NIK_CHECK_MAX_CONCURRENCY, NIK_CHECK_SHARE_OF_REGISTRY)


@caches.per_process
def screening_registry() -> CivilRegistry:
    """The incentive screening's client: the rest of the registry's ceiling."""
    return HttpCivilRegistry.from_settings("registry", INCENTIVE_MAX_CONCURRENCY, SCREENING_SHARE_OF_REGISTRY)
