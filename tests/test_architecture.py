"""The package's shape: data flows one way (no import cycle, not even through a
function-level import), no private name crosses a module, no module outgrows ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "pytest_flowfault"
LIMIT = 420  # the ~400-line guideline, with room for a docstring's last lines


def module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_of(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import outside a TYPE_CHECKING
    block, function-level ones included."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in node.body
        for inner in ast.walk(child)
    }
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [alias.name for alias in node.names]
            found.append((node.module, names))
            found += [(f"{node.module}.{name}", []) for name in names]
    return [(module, names) for module, names in found if module in MODULES]


GRAPH = {
    module: {imported for imported, _ in imports_of(path) if imported != module}
    for module, path in MODULES.items()
}


def cycles() -> list[list[str]]:
    """Every import cycle, each as the path that closes it (depth-first search)."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(GRAPH[module]):
            if state.get(imported) == "open":
                found.append(path[path.index(imported):] + [imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    return found


def test_the_package_has_modules() -> None:
    """The checks below look at something."""
    assert len(MODULES) > 20


def test_no_import_cycle() -> None:
    assert [] == cycles()


def test_the_cycle_finder_finds_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that cannot fail proves nothing: plant a cycle and see it reported."""
    monkeypatch.setitem(GRAPH, "pytest_flowfault.plan", GRAPH["pytest_flowfault.plan"] | {
        "pytest_flowfault.engine"
    })
    assert any(
        "pytest_flowfault.engine" in cycle and "pytest_flowfault.plan" in cycle
        for cycle in cycles()
    )


def test_no_private_name_crosses_a_module() -> None:
    crossing = [
        f"{module} takes {name} from {imported}"
        for module, path in MODULES.items()
        for imported, names in imports_of(path)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert [] == crossing


def test_no_module_outgrows_the_guideline() -> None:
    sizes = {module: len(path.read_text().splitlines()) for module, path in MODULES.items()}
    assert {} == {module: lines for module, lines in sizes.items() if lines > LIMIT}


def test_the_core_never_imports_what_is_built_on_it() -> None:
    """plan -> inject -> engine -> run -> checks: the explorer, the pytest glue, the
    reports and the jobboard feature drive the core; the core never reaches back."""
    core = ("plan", "targets", "values", "inject", "recorder", "run", "timeline", "assertions",
            "engine", "session", "vtime", "errors", "catalog", "persist", "verdict", "saved",
            "upgrade", "remote", "workers", "remote_worker", "worker_records")
    above = ("explore", "points", "variants", "strategies", "fixture", "lifecycle", "plugin",
             "options", "marker", "settings",
             "report", "html", "svg", "writer", "jobboard")
    reaching = {
        module: sorted(
            name for name in GRAPH[f"pytest_flowfault.{module}"]
            if name.count(".") and name.split(".")[1] in above
        )
        for module in core
    }
    assert {module: [] for module in core} == reaching
