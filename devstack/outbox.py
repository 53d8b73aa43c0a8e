"""The local outbox read as a mail client would: from where the last read stopped, whole lines only.

Consumers append to the outbox while it is read, so its last line may be half-written (no newline yet): it is left
for the next read, never parsed. This is the one reader of the outbox: the main job, the fault run, the replay,
the benchmarks and the end-to-end tests all use it, and it is safe to share between the threads of a load run.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

# The notification kinds the app writes (functions/services/notifications.py names them inline).
EMAIL_CODE = "email_code"
NIK_RESULT = "nik_result"
PURCHASE_CODE = "purchase_code"  # sent by email and SMS, each with `purchase_id` and `code`

Found = TypeVar("Found")


class OutboxFollower:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.codes: dict[str, str] = {}  # applicant id -> newest email code
        self.first_code_sent: dict[str, dt.datetime] = {}  # applicant id -> when its first email code was sent
        self.nik_results: dict[str, str] = {}  # applicant id -> status told
        self.purchase_codes: dict[str, str] = {}  # purchase id -> the member's consent code
        self._messages: list[dict[str, Any]] = []
        self._offset = 0
        self._lock = threading.Lock()

    def read(self) -> list[dict[str, Any]]:
        """The messages completed since the last read, in the order they were written."""
        with self._lock:
            return self._read_new_lines()

    def messages(self, *kinds: str) -> list[dict[str, Any]]:
        """Every message so far (of these kinds, if any are named), in the order they were written."""
        with self._lock:
            self._read_new_lines()
            return [m for m in self._messages if not kinds or m["kind"] in kinds]

    def code_for(self, applicant_id: str, besides: Collection[str] = ()) -> str | None:
        """The applicant's newest email code, unless it is one of `besides` (codes already tried): then None."""
        with self._lock:
            if self.codes.get(applicant_id) in (None, *besides):
                self._read_new_lines()
            code = self.codes.get(applicant_id)
            return None if code is None or code in besides else code

    def wait_for_code(self, applicant_id: str, timeout_seconds: float = 600, besides: Collection[str] = ()) -> str:
        """The applicant's newest email code (other than `besides`), waiting for it to arrive."""
        return _waiting(
            lambda: self.code_for(applicant_id, besides), f"no email code for {applicant_id}", timeout_seconds
        )

    def purchase_code_for(self, purchase_id: str) -> str | None:
        """The code the member was sent to consent to this purchase, once it has arrived."""
        with self._lock:
            if purchase_id not in self.purchase_codes:
                self._read_new_lines()
            return self.purchase_codes.get(purchase_id)

    def wait_for_purchase_code(self, purchase_id: str, timeout_seconds: float = 600) -> str:
        """What a member reads from the email (or SMS) to give the partner's checkout, waiting for it to arrive."""
        return _waiting(
            lambda: self.purchase_code_for(purchase_id), f"no code for purchase {purchase_id}", timeout_seconds
        )

    def wait_for_messages(
        self, kind: str, count: int, timeout_seconds: float = 60, **fields: str
    ) -> list[dict[str, Any]]:
        """The messages of `kind` whose `fields` are these values, once there are at least `count` of them: a
        notice by email and SMS is two lines, written one after the other, so one may be read before the other."""

        def look() -> list[dict[str, Any]] | None:
            found = [m for m in self.messages(kind) if all(m.get(k) == v for k, v in fields.items())]
            return found if len(found) >= count else None

        return _waiting(look, f"fewer than {count} {kind} messages with {fields}", timeout_seconds)

    def _read_new_lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        new = []
        with self.path.open("rb") as outbox:
            outbox.seek(self._offset)
            for line in outbox:
                if not line.endswith(b"\n"):
                    break  # still being written: the next read takes it whole
                self._offset += len(line)
                if line.strip():
                    new.append(self._take(json.loads(line)))
        return new

    def _take(self, message: dict[str, Any]) -> dict[str, Any]:
        self._messages.append(message)
        applicant_id = message["applicant_id"]
        if message["kind"] == EMAIL_CODE:
            self.codes[applicant_id] = message["code"]
            if message.get("sent_at"):  # stamped before the writer takes the file's lock: the earliest, not the first
                sent = dt.datetime.fromisoformat(message["sent_at"])
                self.first_code_sent[applicant_id] = min(sent, self.first_code_sent.get(applicant_id, sent))
        elif message["kind"] == NIK_RESULT:
            self.nik_results[applicant_id] = message["status"]
        elif message["kind"] == PURCHASE_CODE:
            self.purchase_codes[message["purchase_id"]] = message["code"]
        return message


def _waiting(look: Callable[[], Found | None], missing: str, timeout_seconds: float) -> Found:
    """What `look` finds, looking again until it finds something or `timeout_seconds` pass."""
    deadline = time.monotonic() + timeout_seconds
    while (found := look()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{missing} within {timeout_seconds:.0f}s")
        time.sleep(0.3)
    return found
