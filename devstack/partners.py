"""A training partner's side of the partner API (openapi.yaml, tag `partners`), as the main job and the
end-to-end tests drive it: every request signed with the partner's own secret, as a platform's checkout would.

A signature is taken once within the window, so an identical request repeated within the same second (a retry)
would carry the same signature and be refused as a replay; the client waits for the next second instead, as a
partner's retry would naturally be later.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from functions.domain.partners import sign


class PartnerClient:
    def __init__(
        self,
        api_url: str,
        partner_id: str,
        secret: str,
        http: requests.Session | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.api_url = api_url
        self.partner_id = partner_id
        self.secret = secret
        self.http = http or requests.Session()
        self.now = now  # unix seconds, on the server's clock
        self._signed: set[tuple[int, str]] = set()  # (timestamp, signature) sent in the current second
        self._lock = threading.Lock()

    def signed_headers(self, method: str, path: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The three headers for this request, signed at `timestamp` (unix seconds; default: now)."""
        moment = str(int(self.now()) if timestamp is None else timestamp)
        return {
            "Content-Type": "application/json",
            "X-Partner-Id": self.partner_id,
            "X-Timestamp": moment,
            "X-Signature": sign(self.secret, moment, method, path, body),
        }

    def fresh_headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """Signed headers this client has not sent before: a repeat within one second waits for the next."""
        while True:
            with self._lock:
                now = int(self.now())
                headers = self.signed_headers(method, path, body, now)
                key = (now, headers["X-Signature"])
                if key not in self._signed:
                    self._signed = {seen for seen in self._signed if seen[0] == now} | {key}
                    return headers
            time.sleep(1.0 - self.now() % 1.0)

    def post(self, path: str, document: dict[str, Any]) -> requests.Response:
        return self.send("POST", path, document)

    def send(self, method: str, path: str, document: dict[str, Any]) -> requests.Response:
        body = json.dumps(document).encode()
        return self.http.request(
            method, f"{self.api_url}{path}", data=body, headers=self.fresh_headers(method, path, body), timeout=60
        )

    # --- the partner API ---------------------------------------------------------------------------------------
    def list_course(self, course_id: str, title: str, price: int, minimum_hours: int) -> requests.Response:
        return self.send(
            "PUT", f"/partners/courses/{course_id}", {"title": title, "price": price, "minimum_hours": minimum_hours}
        )

    def request_purchase(
        self, card_number: str, course_id: str, course_title: str, price: int, purchase_ref: str
    ) -> requests.Response:
        return self.post(
            "/partners/purchases",
            {
                "card_number": card_number,
                "course_id": course_id,
                "course_title": course_title,
                "price": price,
                "purchase_ref": purchase_ref,
            },
        )

    def confirm(self, purchase_id: str, code: str) -> requests.Response:
        return self.post(f"/partners/purchases/{purchase_id}/confirm", {"code": code})

    def cancel(self, purchase_id: str) -> requests.Response:
        return self.post(f"/partners/purchases/{purchase_id}/cancel", {})

    def report_completion(self, purchase_id: str, completed_at: str, certificate_id: str) -> requests.Response:
        return self.post(
            "/partners/completions",
            {"purchase_id": purchase_id, "completed_at": completed_at, "certificate_id": certificate_id},
        )
