"""The whole suite's session hooks: which tests `make test` keeps in one process (pytest-xdist's `loadgroup`)."""

from __future__ import annotations

import pytest

# The e2e tests that share the session's local stacks, or read what all of them left behind (`after_all_e2e`), run
# in one process and in collection order; the runs under tests/e2e/runs/ each start a stack of their own, so each
# may go to any process. The packaging tests share one built package (tests/packaging/conftest.py). The contract
# test's last test checks what the others of its module covered, so that module runs whole in one process.
SHARED_STACKS = "shared_stacks"
PACKAGE = "package"
CONTRACT = "contract"
# The first prefix that matches decides (the runs, ungrouped, before the rest of tests/e2e/).
_GROUPS = {
    "tests/e2e/runs/": None,
    "tests/e2e/": SHARED_STACKS,
    "tests/packaging/": PACKAGE,
    "tests/integration/test_openapi_answers.py": CONTRACT,
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marked here, before pytest-xdist's own hook reads the marks (`tryfirst`: whichever was registered first)."""
    for item in items:
        group = next((name for prefix, name in _GROUPS.items() if item.nodeid.startswith(prefix)), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
