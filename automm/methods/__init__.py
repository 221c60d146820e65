"""Search methods by name: one wing per method (``ksnas/``, ``mfas/``, ``bmnas/``, ``mmnas/``), Optuna's samplers
in `optuna_samplers`.

A new method is a new folder with a `SearchMethod` subclass and one line in `METHODS`.
"""

from __future__ import annotations

from automm.core.errors import AutommError
from automm.methods.base import MethodOption, SearchContext, SearchMethod, TrialHooks
from automm.methods.bmnas.method import BMNASMethod
from automm.methods.ksnas.method import KSNASMethod
from automm.methods.mfas.method import MFASMethod
from automm.methods.mmnas.method import MMNASMethod
from automm.methods.optuna_samplers import NSGA2Method, RandomMethod, TPEMethod

METHODS: dict[str, type[SearchMethod]] = {
    m.name: m for m in (KSNASMethod, MFASMethod, BMNASMethod, MMNASMethod, TPEMethod, RandomMethod, NSGA2Method)
}
DEFAULT_METHOD = "ksnas"


def method_class(name: str) -> type[SearchMethod]:
    """The method called ``name`` (case-insensitive)."""
    try:
        return METHODS[name.lower()]
    except KeyError:
        raise AutommError(f"unknown sampler {name!r}; known: {', '.join(METHODS)}") from None


__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "MethodOption",
    "SearchContext",
    "SearchMethod",
    "TrialHooks",
    "method_class",
]
