"""The local outbox read as a mail client would: from where the last read stopped, whole lines only (the stack
may be writing one), safe to share between the threads of a load run."""

from __future__ import annotations

import json
import threading
from pathlib import Path


class OutboxFollower:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.codes: dict[str, str] = {}  # applicant id -> newest email code
        self.nik_results: dict[str, str] = {}  # applicant id -> status told
        self._offset = 0
        self._lock = threading.Lock()

    def code_for(self, applicant_id: str) -> str | None:
        with self._lock:
            if applicant_id not in self.codes:
                self._read_new_lines()
            return self.codes.get(applicant_id)

    def read(self) -> None:
        with self._lock:
            self._read_new_lines()

    def _read_new_lines(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as outbox:
            outbox.seek(self._offset)
            for line in outbox:
                if not line.endswith(b"\n"):
                    break  # still being written
                self._offset += len(line)
                message = json.loads(line)
                if message["kind"] == "email_code":
                    self.codes[message["applicant_id"]] = message["code"]
                elif message["kind"] == "nik_result":
                    self.nik_results[message["applicant_id"]] = message["status"]
