"""What the clients of outside services (the civil registry, the payment provider) share: JSON over HTTP, pressed
gently.

Short timeouts, retries with exponential backoff and jitter (urllib3's `Retry`) for the calls that are safe to
repeat, a circuit breaker (pybreaker) that stops calling a service that keeps failing, and a requests-per-second
ceiling. In 2020 the registry's API was one of the bottlenecks that brought the site down; a million queued calls
must reach a service at the rate it can bear, however many arrive at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Self, TypeVar

import pybreaker
import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util import Retry, Timeout

from functions.settings import settings

Result = TypeVar("Result")

# Retries wait 0.2 s, 0.4 s, 0.8 s ..., each plus up to 0.2 s at random, so that callers spread out.
BACKOFF_FACTOR = 0.2
BACKOFF_JITTER = 0.2


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


class JsonService:
    """One outside service's HTTP JSON API, behind a ceiling and a breaker. A subclass names the exception its
    callers get when the service did not answer usably (`unavailable`) and speaks the service's protocol through
    `call` and `send`."""

    unavailable: ClassVar[type[Exception]]

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
        self.base_url = base_url.rstrip("/")
        self.timeout = Timeout(connect=min(1.0, timeout_seconds), read=timeout_seconds)
        self.retries = retries
        # For calls that change nothing, whatever their method: a repeat is harmless.
        self.safe_retry = Retry(
            total=retries,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
            respect_retry_after_header=True,
            backoff_factor=BACKOFF_FACTOR,
            backoff_jitter=BACKOFF_JITTER,
        )
        self.http = urllib3.PoolManager(maxsize=4)
        # A malformed answer (KeyError, ValueError) is our problem to report, not a sign the service is down.
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=breaker_failures, reset_timeout=breaker_reset_seconds, exclude=[KeyError, ValueError]
        )
        self.bucket = TokenBucket(requests_per_second)

    @classmethod
    def from_settings(cls, name: str, containers: int, share: float = 1.0) -> Self:
        """The client the settings `<name>_url`, `<name>_timeout_seconds`, `<name>_retries`,
        `<name>_requests_per_second` and `<name>_breaker_*` describe, for a consumer that takes `share` of the
        ceiling and runs at most `containers` containers at once: each has its own bucket, so each gets that part
        of its share."""
        current = settings()

        def setting(suffix: str) -> Any:
            return getattr(current, f"{name}_{suffix}")

        return cls(
            setting("url"),
            timeout_seconds=setting("timeout_seconds"),
            retries=setting("retries"),
            requests_per_second=setting("requests_per_second") * share / containers,
            breaker_failures=setting("breaker_failures"),
            breaker_reset_seconds=setting("breaker_reset_seconds"),
        )

    def call(self, work: Callable[[], Result]) -> Result:
        """`work` (one or more `send`s) under the breaker and the ceiling; a transport failure that `work` lets
        through, or an open circuit, is `unavailable`. An open circuit fails at once, without waiting for a token:
        it sends nothing, and in an outage the callers' messages should run their tries out in the queue's time,
        not queue behind the ceiling one by one (at 1,000 payments an outage's took longer than the day)."""

        def under_ceiling() -> Result:
            self.bucket.acquire()
            return work()

        try:
            return self.breaker.call(under_ceiling)
        except pybreaker.CircuitBreakerError:
            raise self.unavailable("the circuit is open") from None
        except HTTPError as error:
            raise self.unavailable(type(error).__name__) from None

    def send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        retries: Retry | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """One request, retried as `retries` allows (`safe_retry` unless told otherwise)."""
        return self.http.request(
            method,
            self.base_url + path,
            body=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=self.timeout,
            retries=self.safe_retry if retries is None else retries,
        )
