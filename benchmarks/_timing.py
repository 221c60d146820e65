"""Code a benchmark's child process runs (``exec(TIMER)`` after ``import automm``) to time training
and storage calls: automm's compute functions (``train_epoch``, ``predict_logits``, ``fit_linear``),
every method of Optuna's storages and of automm's subclasses of them (the cache's public ones; the
database's and the journal's, private ones too: Optuna's trial loop calls some of those itself, e.g. the
heartbeat's stale-trial query) and every database session automm opens itself (each ``optuna_internals``
module's ``_create_scoped_session``, and the batched writers ``_together`` and ``_write_held``) are
wrapped, the outermost call counted once.
Afterwards ``spent`` holds the seconds of each in the main thread: what the search waits for. Storage
calls in other threads (Optuna's heartbeat thread, which runs beside training) are in
``spent["storage_other_threads"]``, not in ``storage``. Wrapping costs microseconds a call, not a
profiler's inflation. A string, so that it also runs against an older automm checkout."""

import json
import os
import subprocess
import sys
from pathlib import Path


def run_child(code: str, args: list[str], source: Path) -> dict:
    """Run ``code`` (a child script printing one JSON line last) in a fresh process on the automm in
    ``source``; its JSON."""
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=source,
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


TIMER = """
import contextlib, functools, importlib, pkgutil, sys, threading, time
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages import JournalStorage, RDBStorage

spent = {"training": 0.0, "storage": 0.0, "storage_other_threads": 0.0}
depth = threading.local()  # per thread: how deep inside a timed call of each kind

def _enter(kind):
    level = getattr(depth, kind, 0)
    setattr(depth, kind, level + 1)
    return level == 0

def _leave(kind, t):
    setattr(depth, kind, getattr(depth, kind) - 1)
    name = kind if threading.current_thread() is threading.main_thread() else kind + "_other_threads"
    spent[name] = spent.get(name, 0.0) + time.perf_counter() - t

def timed(kind, f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        if not _enter(kind):
            try:
                return f(*args, **kwargs)
            finally:
                setattr(depth, kind, getattr(depth, kind) - 1)
        t = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            _leave(kind, t)
    return wrapper

def timed_context(kind, f):  # a function returning a context manager: the block is timed too
    @contextlib.contextmanager
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        outermost = _enter(kind)
        t = time.perf_counter()
        try:
            with f(*args, **kwargs) as value:
                yield value
        finally:
            if outermost:
                _leave(kind, t)
            else:
                setattr(depth, kind, getattr(depth, kind) - 1)
    return wrapper

for info in pkgutil.walk_packages(automm.__path__, "automm."):  # every module, so every imported copy is wrapped
    importlib.import_module(info.name)
import automm.engine.linear_net, automm.engine.training
training = automm.engine.training
originals = {training.train_epoch, training.predict_logits, automm.engine.linear_net.fit_linear}
for name, module in list(sys.modules.items()):
    if name.startswith("automm") and module is not None:
        for attr, value in list(vars(module).items()):
            if callable(value) and any(value is o for o in originals):
                setattr(module, attr, timed("training", value))
with contextlib.suppress(ImportError):  # automm's own storage classes (subclasses of Optuna's) are timed too
    importlib.import_module("automm.store.storages")

def _with_subclasses(cls):
    return [cls] + [c for sub in cls.__subclasses__() for c in _with_subclasses(sub)]

storage_classes = [(c, p) for base, p in ((_CachedStorage, False), (JournalStorage, True), (RDBStorage, True))
                   for c in _with_subclasses(base)]
for storage_class, private_too in storage_classes:
    for attr, value in list(vars(storage_class).items()):
        if isinstance(value, (staticmethod, classmethod)):
            continue
        if callable(value) and not attr.startswith("__") and (private_too or not attr.startswith("_")):
            setattr(storage_class, attr, timed("storage", value))
# automm's own sessions and transactions, past the cache (code up to 35da743 wrote the parameters of a
# relative proposal in a transaction of their own, uncounted here: wrapping suggest_together would count sampling);
# the door to Optuna's private API is a module (code up to 11bbaed) or a package of modules, each with its own names
internals = [m for n, m in list(sys.modules.items()) if n == "automm.store.optuna_internals"
             or n.startswith("automm.store.optuna_internals.")]
for module in internals:
    if hasattr(module, "_create_scoped_session"):
        module._create_scoped_session = timed_context("storage", module._create_scoped_session)
    for name in ("_together", "_write_held"):
        if hasattr(module, name):
            setattr(module, name, timed("storage", getattr(module, name)))

"""
