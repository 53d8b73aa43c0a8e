"""docs/architecture.md stays true: each layer imports only what it may, and the lifecycle diagram is the one the
transition table draws."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from functions.domain.incentives import PAYMENT_TRANSITIONS, PAYOUT_ACCOUNT_TRANSITIONS
from functions.domain.lifecycle import DERIVED, TRANSITIONS, Status
from functions.domain.membership import MEMBERSHIP_TRANSITIONS, PURCHASE_TRANSITIONS, Move

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# What each layer must not import (docs/architecture.md, "Layers").
FORBIDDEN = {
    "functions/domain": (
        "functions.settings",
        "functions.store",
        "functions.services",
        "functions.adapters",
        "pydantic_settings",
        "aws_lambda_powertools",
        "chalice",
        "boto3",
        "botocore",
        "pynamodb",
    ),
    "functions/services": ("functions.store.models", "chalice", "boto3", "botocore", "pynamodb"),
    "functions/store": ("functions.services", "functions.adapters", "chalice"),
    "functions/adapters": ("functions.services", "functions.store.models", "chalice"),
    "functions/register": ("functions.store", "functions.adapters", "boto3", "pynamodb"),
    "functions/verify": ("functions.store", "functions.adapters", "boto3", "pynamodb"),
    "functions/select": ("functions.store", "functions.adapters", "boto3", "pynamodb"),
    "functions/membership": ("functions.store", "functions.adapters", "boto3", "pynamodb"),
    "functions/payouts": ("functions.store", "functions.adapters", "boto3", "pynamodb"),
    "functions/operators": ("functions.store", "functions.adapters", "boto3", "pynamodb"),
}
BLUEPRINTS = ("register", "verify", "select", "membership", "payouts", "operators")
BLUEPRINT_HANDLERS = 10  # routes, event handlers and authorizers a blueprint holds at most: its name says them all


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    paths = sorted((ROOT / layer).rglob("*.py"))
    assert paths
    for path in paths:
        for name in _imports(path):
            assert not name.startswith(FORBIDDEN[layer]), f"{path.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_each_blueprint_holds_a_handful_of_handlers(blueprint: str) -> None:
    tree = ast.parse((ROOT / "functions" / blueprint / "__init__.py").read_text())
    handlers = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) for d in node.decorator_list)
    ]
    assert 0 < len(handlers) <= BLUEPRINT_HANDLERS, f"{blueprint}: {handlers}"


def test_every_blueprint_is_counted_here() -> None:
    defined = {
        path.parent.name for path in (ROOT / "functions").glob("*/__init__.py") if "Blueprint(" in path.read_text()
    }
    assert defined == set(BLUEPRINTS)


SERVICES = ROOT / "functions" / "services"
SERVICES_DEPTH = 5  # docs/architecture.md, "Layers": a service reaches any other in at most four imports


def _services_imported(path: Path) -> set[str]:
    """The other service modules `path` imports (by module name)."""
    names = {path.stem for path in SERVICES.glob("*.py")} - {"__init__", path.stem}
    found = set()
    for name in _imports(path):
        parts = name.split(".")
        if parts[:2] == ["functions", "services"] and len(parts) > 2 and parts[2] in names:
            found.add(parts[2])
    return found


def _longest_chain(module: str, graph: Mapping[str, set[str]], seen: tuple[str, ...] = ()) -> list[str]:
    assert module not in seen, f"import cycle: {' -> '.join((*seen, module))}"
    chains = [_longest_chain(imported, graph, (*seen, module)) for imported in sorted(graph[module])]
    return [module, *max(chains, key=len, default=[])]


def test_services_import_each_other_at_most_five_levels_deep() -> None:
    graph = {path.stem: _services_imported(path) for path in SERVICES.glob("*.py") if path.stem != "__init__"}
    longest = max((_longest_chain(module, graph) for module in sorted(graph)), key=len)
    assert len(longest) <= SERVICES_DEPTH, " -> ".join(longest)


def lifecycle_diagram() -> str:
    """The applicant's lifecycle as Mermaid, drawn from `TRANSITIONS` (and the statuses that are only shown)."""
    lines = ["stateDiagram-v2", f"    [*] --> {Status.PENDING}"]
    for event, transition in TRANSITIONS.items():
        counted = f" [{', '.join(stage.value for stage in transition.counted)}]" if transition.counted else ""
        lines += [
            f"    {source} --> {transition.target}: {event.value}{counted}" for source in sorted(transition.sources)
        ]
    lines += [f"    {stored} --> {shown}: shown as" for shown, stored in DERIVED.items()]
    return "\n".join(lines)


def test_the_lifecycle_diagram_is_the_transition_table() -> None:
    block = f"```mermaid\n{lifecycle_diagram()}\n```"
    assert block in ARCHITECTURE.read_text(), f"docs/architecture.md should hold, verbatim:\n\n{block}\n"


def moves_diagram(table: Mapping[Any, Move]) -> str:
    """A membership's or a purchase's states as Mermaid, drawn from its transition table."""
    lines = ["stateDiagram-v2"]
    for event, move in table.items():
        lines += [f"    {source} --> {move.target}: {event.value}" for source in sorted(move.sources or {"[*]"})]
    return "\n".join(lines)


@pytest.mark.parametrize(
    "table",
    [MEMBERSHIP_TRANSITIONS, PURCHASE_TRANSITIONS, PAYOUT_ACCOUNT_TRANSITIONS, PAYMENT_TRANSITIONS],
    ids=["membership", "purchase", "payout account", "payment"],
)
def test_the_membership_and_purchase_diagrams_are_their_tables(table: Mapping[Any, Move]) -> None:
    block = f"```mermaid\n{moves_diagram(table)}\n```"
    assert block in ARCHITECTURE.read_text(), f"docs/architecture.md should hold, verbatim:\n\n{block}\n"


def test_every_status_is_reached_or_shown() -> None:
    reached = {Status.PENDING} | {transition.target for transition in TRANSITIONS.values()} | set(DERIVED)
    assert reached == set(Status)
