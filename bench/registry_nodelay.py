"""devstack's local civil registry with Nagle's algorithm off on its sockets (TCP_NODELAY), for the benchmarks.

`devstack.registry` answers with two writes (the headers, then the body) on a socket with Nagle on; against a
keep-alive client that delays its ACKs, the body waits for the delayed ACK, about 40 ms on Linux, on every look-up.
A registry told to answer in 50 ms then answers in about 90. This wrapper sets `disable_nagle_algorithm` on the
registry's request handler (socketserver sets TCP_NODELAY for it) and is otherwise the same service.

Run as `python bench/registry_nodelay.py --port PORT --csv PATH` (with the repository on PYTHONPATH).
"""

from __future__ import annotations

from typing import Any

from devstack import registry

_handler_for = registry.handler_for


def handler_for(state: registry.Registry) -> Any:
    handler = _handler_for(state)
    handler.disable_nagle_algorithm = True
    return handler


registry.handler_for = handler_for

if __name__ == "__main__":
    registry.main()
