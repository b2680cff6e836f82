"""The packages import each other in one direction only.

The graph is built with ``ast`` from the files of ``web`` and ``engine``: an edge for every
import executed when a module is loaded (module level, including under ``if``/``try``),
not for imports inside functions or under ``if TYPE_CHECKING:``. ``from pkg import name``
points at ``pkg.name`` when that is a module of ours, otherwise at ``pkg``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("web", "engine")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for package in PACKAGES
        for p in sorted((ROOT / package).rglob("*.py"))
        if ".venv" not in p.parts
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _load_time_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements run when the module loads: not in functions or classes' methods."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _load_time_imports(node.body)
            yield from _load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _load_time_imports(block)
            for handler in node.handlers:
                yield from _load_time_imports(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef):
            yield from _load_time_imports(node.body)


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _every_import(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def import_graph(*, deferred: bool = False) -> dict[str, set[str]]:
    """module -> the modules of ours it imports when it loads (``deferred``: also the
    imports inside functions)."""
    known = modules()
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        found = _every_import(tree) if deferred else _load_time_imports(tree.body)
        for node in found:
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _resolve(module, path, node)
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                    for alias in node.names
                ]
            graph[module] |= {t for t in targets if t in known and t != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_find_cycle_reports_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_graph_sees_our_modules() -> None:
    graph = import_graph()
    assert "web.app" in graph and "engine.bootstrap" in graph
    assert "web.ui" in graph["web.app"] or any(m.startswith("web.ui") for m in graph["web.app"])


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_cycles_hidden_in_functions_in_web() -> None:
    """An import moved into a function to dodge a cycle is still a cycle."""
    graph = {
        module: {t for t in targets if t.split(".")[0] == "web"}
        for module, targets in import_graph(deferred=True).items()
        if module.split(".")[0] == "web"
    }
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle (through imports in functions): " + " -> ".join(cycle or [])


def test_engine_does_not_import_web() -> None:
    offenders = sorted(
        f"{module} -> {target}"
        for module, path in modules().items()
        if module.split(".")[0] == "engine"
        for node in ast.walk(ast.parse(path.read_text()))  # any depth: functions too
        if isinstance(node, ast.Import | ast.ImportFrom)
        for target in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if not node.level
            else []
        )
        if target == "web" or target.startswith("web.")
    )
    assert offenders == []
