"""The whole suite's session hooks: how `make test` spreads the tests over processes (pytest-xdist)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

# The e2e tests that share the session's local stacks, or read what all of them left behind (`after_all_e2e`), must
# run in one process and in collection order; the runs under tests/e2e/runs/ each start a stack of their own.
SHARED_STACKS = "tests/e2e/ (the shared local stacks)"
_E2E = "tests/e2e/"
_OWN_STACK_RUNS = "tests/e2e/runs/"


def pytest_xdist_make_scheduler(config: Any, log: Any) -> Any:
    """Under `--dist loadscope`: the e2e tests on the shared stacks are one unit of work, each own-stack run (the
    longest tests) is a unit of its own, and every other module is one unit, so its fixtures are made once.

    pytest-xdist's `loadgroup` would say this with `xdist_group` marks, but with pytest 9.2 its marks no longer reach
    the scheduler (it renames `item._nodeid`, which pytest 9.2 no longer reads), so the scopes are named here."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class SharedStacksTogether(LoadScopeScheduling):  # type: ignore[misc]
        def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
            # Schemathesis gives every operation's fuzzing test the same id, and this scheduler keys its work by id:
            # repeats would run once. Numbered, each runs (the `load` scheduling keys by position and needs none).
            seen: Counter[str] = Counter()
            numbered = []
            for nodeid in collection:
                seen[nodeid] += 1
                numbered.append(nodeid if seen[nodeid] == 1 else f"{nodeid} #{seen[nodeid]}")
            super().add_node_collection(node, numbered)

        def _assign_work_unit(self, node: Any) -> None:
            # The longest units first, so that the short modules fill in at the end: the tests on the shared stacks,
            # then the own-stack runs (xdist's own order, by number of tests, would leave the runs to the last).
            ordered = sorted(self.workqueue.items(), key=lambda unit: _rank(unit[0]))
            self.workqueue.clear()
            self.workqueue.update(ordered)
            super()._assign_work_unit(node)

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(_OWN_STACK_RUNS):
                return nodeid
            if nodeid.startswith(_E2E):
                return SHARED_STACKS
            return str(super()._split_scope(nodeid))

    return SharedStacksTogether(config, log)


def _rank(scope: str) -> int:
    return 0 if scope == SHARED_STACKS else 1 if scope.startswith(_OWN_STACK_RUNS) else 2
