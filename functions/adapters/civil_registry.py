"""The civil registry (Dukcapil) behind one small interface, and its HTTP JSON client.

The client is deliberately gentle: short timeouts, a few retries with exponential backoff and jitter (urllib3's
`Retry`), a circuit breaker (pybreaker) that stops calling a registry that keeps failing, and a requests-per-second
ceiling. In 2020 the registry's API was one of the bottlenecks that brought the site down; a million queued checks
must reach it at the rate it can bear, however many arrive at once.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any, Protocol

import pybreaker
import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util import Retry, Timeout

from functions import caches
from functions.domain.eligibility import RegistryPerson
from functions.resources import NIK_CHECK_MAX_CONCURRENCY
from functions.settings import settings

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


class TokenBucket:
    """At most `rate` acquisitions a second on average, bursts of up to `burst`.

    Twenty lines here rather than a rate-limiting dependency: the need is one process-local, blocking bucket.
    """

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            time.sleep(wait)


class HttpCivilRegistry:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float,
        retries: int,
        requests_per_second: float,
        breaker_failures: int,
        breaker_reset_seconds: float,
    ) -> None:
        self.url = base_url.rstrip("/") + LOOKUP_PATH
        self.timeout = Timeout(connect=min(1.0, timeout_seconds), read=timeout_seconds)
        self.retry = Retry(
            total=retries,
            backoff_factor=0.2,
            backoff_jitter=0.2,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,  # the look-up is a POST, but it changes nothing: safe to repeat
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        self.http = urllib3.PoolManager(maxsize=4)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=breaker_failures, reset_timeout=breaker_reset_seconds, exclude=[KeyError, ValueError]
        )
        self.bucket = TokenBucket(requests_per_second)

    def lookup(self, nik: str) -> RegistryPerson | None:
        self.bucket.acquire()
        try:
            found: RegistryPerson | None = self.breaker.call(self._lookup, nik)
        except pybreaker.CircuitBreakerError:
            raise RegistryUnavailable("the circuit to the registry is open") from None
        return found

    def _lookup(self, nik: str) -> RegistryPerson | None:
        try:
            answer = self.http.request(
                "POST",
                self.url,
                body=json.dumps({"nik": nik}).encode(),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
                retries=self.retry,
            )
        except HTTPError as error:
            raise RegistryUnavailable(type(error).__name__) from None
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise RegistryUnavailable(f"registry answered {answer.status}")
        return person_from_json(json.loads(answer.data))


@caches.per_process
def registry() -> CivilRegistry:
    current = settings()
    return HttpCivilRegistry(
        current.registry_url,
        timeout_seconds=current.registry_timeout_seconds,
        retries=current.registry_retries,
        # The consumer runs at most NIK_CHECK_MAX_CONCURRENCY containers at once, each with its own bucket.
        requests_per_second=current.registry_requests_per_second / NIK_CHECK_MAX_CONCURRENCY,
        breaker_failures=current.registry_breaker_failures,
        breaker_reset_seconds=current.registry_breaker_reset_seconds,
    )
