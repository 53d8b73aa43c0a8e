"""Many applicants at once, as the main job, the fault run, the benchmarks and the end-to-end tests drive the API:
work spread over a thread pool with a progress bar, and a POST retried as an applicant's app retries it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.util.retry import Retry

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


def each(label: str, items: Sequence[Item], work: Callable[[Item], Outcome], workers: int) -> list[Outcome]:
    """`work` on every item by `workers` threads, a progress bar labelled `label`; the outcomes in items' order."""
    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(items), desc=label, unit="") as bar:
        outcomes = []
        for outcome in pool.map(work, items):
            outcomes.append(outcome)
            bar.update()
        return outcomes


def app_session(pool_maxsize: int = 10, attempts: int = 20) -> requests.Session:
    """A session that retries every request answered 429 (busy) after its Retry-After, as an applicant's app does
    (urllib3's Retry; a 429 means the request was not taken, so any method may go again); the last answer."""
    retry = Retry(
        total=attempts,
        status_forcelist=(429,),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=pool_maxsize, max_retries=retry))
    return session


def post_as_app(
    http: requests.Session,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    attempts: int = 20,
    timeout: float = 60,
) -> requests.Response:
    """POSTs as an applicant's app does: a 429 (busy) is tried again after its Retry-After; the last answer."""
    for _attempt in range(attempts):
        answer = http.post(url, json=body, headers=headers or {}, timeout=timeout)
        if answer.status_code != 429:
            break
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    return answer
