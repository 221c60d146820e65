"""The layout's promises: no import circle, small files, no branch on a method's name outside methods/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "automm"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> set[str]:
    """automm modules ``path`` imports when it runs (imports under ``if TYPE_CHECKING:`` excluded)."""
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("automm")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("automm"):
            for alias in node.names:  # `from automm.x import y` may name a submodule y
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _exists(sub) else node.module)
    return found


def _exists(module: str) -> bool:
    base = PACKAGE.parent.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _runtime_imports(p) for p in PACKAGE.rglob("*.py")}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == node:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _unit(module: str) -> str:
    """The top-level part of automm a module belongs to: ``automm.methods.ksnas.space`` -> ``methods``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "automm"


def test_no_import_circle_between_modules():
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in _graph().items()}  # parents run first
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_no_import_circle_between_the_parts_of_the_package():
    units: dict[str, set[str]] = {}
    for module, deps in _graph().items():
        if module == "automm":
            continue  # the package's __init__ re-exports the public API
        units.setdefault(_unit(module), set()).update(_unit(d) for d in deps if d != "automm")
    assert _cycle(units) is None, " -> ".join(_cycle(units) or [])


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_file_is_too_long():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert not long


def test_no_branch_on_a_method_name_outside_methods():
    names = "ksnas|mfas|tpe|random|nsga2"
    pattern = re.compile(rf"""(==|!=|\bin\b)\s*\(?["']({names})["']|["']({names})["']\s*(==|!=)""")
    found = [
        f"{p.relative_to(PACKAGE)}:{i}"
        for p in PACKAGE.rglob("*.py")
        if "methods" not in p.relative_to(PACKAGE).parts
        for i, line in enumerate(p.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not found


def test_settings_modules_import_no_torch():
    """Settings and presets load without torch: nothing they import (package inits aside) imports it."""
    graph = _graph()
    roots = ["automm.settings", "automm.methods.ksnas.settings", "automm.methods.mfas.settings"]
    seen, todo = set(), list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [d for d in graph.get(module, ()) if d != "automm" and not module.startswith(d + ".")]
    heavy = []
    for module in seen:
        path = PACKAGE.parent.joinpath(*module.split("."))
        path = path.with_suffix(".py") if path.with_suffix(".py").is_file() else path / "__init__.py"
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        heavy += [f"{module}: {n}" for n in names if n.split(".")[0] == "torch"]
    assert seen >= set(roots) and not heavy
