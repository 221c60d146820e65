"""The layout's promises: the layers import downward only, no import circle, every package marks its
public names, no branch on a method's name outside methods/, settings without torch."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "automm"
LONG_FILE = 400  # past this, a file is a prompt to look for a concept to split out (a warning, not a failure)
# The rooms of the package, bottom to top: each imports only rooms below it (`__init__` re-exports aside).
LAYERS = [
    "_version",
    "core",
    "settings",
    "extract",
    "data",
    "engine",
    "store",
    "methods",
    "search",
    "delivery",
    "inspection",
    "study",
    "report",
    "cli",
]
MAX_FLAT_MODULES = 5


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, type_checking: bool = True) -> set[str]:
    """automm modules ``path`` imports (``type_checking``: those under ``if TYPE_CHECKING:`` too, since
    they are real dependencies; without it, only what runs). ``from automm.x import y`` names the
    submodule ``automm.x.y`` when there is one."""
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if not type_checking and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("automm")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("automm"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _exists(sub) else node.module)
    return found


def _exists(module: str) -> bool:
    base = PACKAGE.parent.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _graph(type_checking: bool = True) -> dict[str, set[str]]:
    return {_module_name(p): _imports(p, type_checking) for p in PACKAGE.rglob("*.py")}


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
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in _graph(False).items()}  # parents first
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


def test_long_files_are_reported_not_refused():
    """A file past `LONG_FILE` lines is a prompt to look for a concept to split out: warned, not failed."""
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    for name, n in sorted(lengths.items()):
        if n > LONG_FILE:
            warnings.warn(f"{name} has {n} lines: is there a concept to split out?", stacklevel=1)
    assert lengths


def test_the_layers_import_downward_only():
    rank = {room: i for i, room in enumerate(LAYERS)}
    upward = []
    for module, deps in _graph().items():
        if module == "automm":
            continue  # the package's __init__ re-exports the public API
        room = _unit(module)
        assert room in rank, f"{module} is in no layer: add its room to LAYERS"
        for dep in deps:
            if dep != "automm" and rank[_unit(dep)] > rank[room]:
                upward.append(f"{module} -> {dep}")
    assert not upward, "imports that run up the layers: " + ", ".join(sorted(upward))


def test_the_layer_check_finds_an_upward_import(tmp_path):
    module = tmp_path / "x.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from automm.cli.app import app\n")
    assert _imports(module) == {"automm.cli.app"}
    assert _imports(module, type_checking=False) == set()
    assert LAYERS.index(_unit("automm.cli.app")) > LAYERS.index("core")


def test_every_room_has_a_layer_and_few_modules_stay_flat():
    rooms = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()
    }
    assert rooms == set(LAYERS)
    assert len([p for p in PACKAGE.glob("*.py")]) <= MAX_FLAT_MODULES


def test_every_package_names_its_public_surface():
    missing = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("__init__.py")
        if not any(
            isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
            for n in ast.parse(p.read_text()).body
        )
    ]
    assert not missing


def test_every_name_in_all_exists():
    import importlib

    for p in PACKAGE.rglob("__init__.py"):
        package = importlib.import_module(_module_name(p))
        for name in package.__all__:
            assert hasattr(package, name) or _exists(f"{package.__name__}.{name}"), f"{package.__name__}.{name}"


def test_no_branch_on_a_method_name_outside_methods():
    from automm.methods import METHODS

    names = "|".join(METHODS)
    assert {"ksnas", "mfas", "bmnas", "mmnas", "tpe"} <= set(METHODS)
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
    graph = _graph(type_checking=False)
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


def test_only_the_optuna_internals_package_touches_optunas_private_api():
    """Optuna's private handles (``._storage``, ``._trial_id``, ``._study_id``) and private modules
    (``optuna.storages._rdb``, ...) are used in `automm.store.optuna_internals` alone."""
    private = re.compile(r"\._(storage|trial_id|study_id)\b")
    users = []
    for p in sorted(PACKAGE.rglob("*.py")):
        if "optuna_internals" in p.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(p.read_text())
        modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        private_modules = [m for m in modules if m.startswith("optuna.") and "._" in m]
        if private.search(p.read_text()) or private_modules:
            users.append(str(p.relative_to(PACKAGE)))
    assert not users


def test_trial_record_keys_are_read_and_written_in_one_place():
    """The objective's trial attributes go through `automm.store.trial_record` (the first-try name is
    also written when a first try is enqueued, and kept when a dead worker's trial is retried)."""
    from automm.core import keys
    from automm.store.trial_record import KEYS

    stored = set(KEYS.values())
    names = [k for k, v in vars(keys).items() if k.isupper() and isinstance(v, str) and v in stored]
    names = [n for n in names if n != "BASELINE"]
    pattern = re.compile(rf"\bkeys\.({'|'.join(names)})\b")
    users = sorted(
        f"{p.relative_to(PACKAGE)}:{i}"
        for p in PACKAGE.rglob("*.py")
        if p.name != "trial_record.py"
        for i, line in enumerate(p.read_text().splitlines(), start=1)
        if pattern.search(line)
    )
    assert names and not users
