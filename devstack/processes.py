"""Child processes of the local stack: started on free loopback ports, logged to files, stopped by process id."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    restarts: int = field(default=0)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        """SIGTERM to the child's process group, without waiting for it to go."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)

    def stop(self, grace_seconds: float = 5.0) -> None:
        """SIGTERM to the child's process group, then SIGKILL if it has not gone within the grace period."""
        if not self.alive():
            return
        self.terminate()
        try:
            self.process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=grace_seconds)

    def kill(self) -> None:
        """SIGKILL at once, as a crashed Lambda container would vanish mid-batch."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def start_python(
    name: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path, cwd: Path | None = None
) -> Child:
    """Runs `python <args>` in its own process group, its output appended to `<log_dir>/<name>.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, *args],
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Child(name, process, log_path)


# A child that dies is seen at once; one that is only slow (the scheduler imports the app and runs its first tick
# before it serves) gets this long: two stacks starting together on two loaded cores took over 30 s.
STARTUP_SECONDS = 120.0


def wait_for_http(url: str, child: Child | None = None, timeout_seconds: float = STARTUP_SECONDS) -> None:
    """Waits until `url` answers at all (any HTTP status), or fails with the child's log tail."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited early:\n{tail(child.log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback URL we built
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    detail = tail(child.log_path) if child else ""
    raise TimeoutError(f"{url} did not answer within {timeout_seconds:.0f}s\n{detail}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


class JsonHandler(BaseHTTPRequestHandler):
    """The local stack's small HTTP services (the registry, the scheduler): JSON in and out, keep-alive, no
    request log (the registry's bodies are NIKs; the services log their own lines). A service answers `on_get`
    and `on_post`; a path it does not know is a 404."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def do_GET(self) -> None:
        self.on_get()

    def do_POST(self) -> None:
        self.on_post(self.read_json())

    def on_get(self) -> None:
        self.no_such_path()

    def on_post(self, body: dict[str, Any]) -> None:
        self.no_such_path()

    def no_such_path(self) -> None:
        self.answer(404, {"error": "no such path"})

    def answer(self, status: int, body: Any) -> None:
        raw = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        parsed: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
        return parsed
