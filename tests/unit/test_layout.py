"""The layout keeps its promises: SQL stays in the store, the rules do no I/O, and the
engine never reaches into the web layer."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (at any depth of its code)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_only_the_store_imports_sqlalchemy() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in modules("engine")
        if "store" not in path.relative_to(ROOT).parts
        and any(name.split(".")[0] == "sqlalchemy" for name in imports_of(path))
    ]
    assert offenders == []


def test_the_domain_does_no_io() -> None:
    allowed_roots = {
        "__future__", "dataclasses", "enum", "math", "threading", "datetime", "zoneinfo",
        "json", "re", "transitions", "phonenumbers", "engine", "typing", "collections",
    }  # fmt: skip
    for path in modules("engine/domain"):
        for name in imports_of(path):
            root = name.split(".")[0]
            assert root in allowed_roots, f"{path.name} imports {name}"
            if root == "engine":
                assert name.startswith(("engine.domain", "engine.config", "engine.errors")), (
                    f"{path.name} imports {name}"
                )


def test_the_engine_never_imports_web() -> None:
    for path in modules("engine"):
        assert not any(n.split(".")[0] == "web" for n in imports_of(path)), path
