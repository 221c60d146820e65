"""Code a benchmark's child process runs (``exec(TIMER)`` after ``import automm``) to time training
and storage calls: automm's compute functions (``train_epoch``, ``predict_logits``, ``fit_linear``),
every public method of Optuna's cached storage and automm's own batched transactions
(``optuna_internals._together`` and ``_write_held``, where the code has them) are wrapped, the
outermost call counted once.
Afterwards ``spent`` holds the seconds of each. Wrapping costs microseconds a call, not a profiler's
inflation. A string, so that it also runs against an older automm checkout."""

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
import functools, importlib, pkgutil, sys, time
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages import JournalStorage

spent = {"training": 0.0, "storage": 0.0}
inside = {"training": 0, "storage": 0}

def timed(kind, f):
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        if inside[kind]:
            return f(*args, **kwargs)
        inside[kind] += 1
        t = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            spent[kind] += time.perf_counter() - t
            inside[kind] -= 1
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
for storage_class in (_CachedStorage, JournalStorage):  # database storages sit inside the cache
    for attr, value in list(vars(storage_class).items()):
        if callable(value) and not attr.startswith("_"):
            setattr(storage_class, attr, timed("storage", value))
internals = sys.modules.get("automm.store.optuna_internals")
# automm's own transactions, past the cache (code up to 35da743 wrote the parameters of a relative
# proposal in a transaction of their own, uncounted here: wrapping suggest_together would count sampling)
for name in ("_together", "_write_held"):
    if internals is not None and hasattr(internals, name):
        setattr(internals, name, timed("storage", getattr(internals, name)))

"""
