"""Search methods by name: one wing per method (``ksnas/``, ``mfas/``, ``bmnas/``, ``mmnas/``), Optuna's samplers
in `tuners`.

A new method is a new folder with a `SearchMethod` subclass and one line in `METHODS`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from automm.bagged import BaggedNet
from automm.errors import AutommError
from automm.linear import FAMILY as LINEAR_FAMILY
from automm.linear import LinearNet
from automm.methods.base import MethodOption, SearchContext, SearchMethod, TrialHooks
from automm.methods.bmnas.method import BMNASMethod
from automm.methods.ksnas.method import KSNASMethod
from automm.methods.mfas.method import MFASMethod
from automm.methods.mmnas.method import MMNASMethod
from automm.methods.tuners import NSGA2Method, RandomMethod, TPEMethod

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


def network_from_export(meta: dict[str, Any]) -> nn.Module:
    """A fresh network for an export's ``genotype.json`` (its ``space`` names the network family)."""
    bagged = meta.get("bagged")
    if bagged is not None:  # a candidate delivered as its fold networks
        if not isinstance(bagged, int) or bagged < 1:
            raise AutommError(f"a bagged member needs a positive network count, got {bagged!r}")
        single = {k: v for k, v in meta.items() if k != "bagged"}
        return BaggedNet([network_from_export(single) for _ in range(bagged)], meta.get("task") == "multiclass")
    family = meta.get("space", "ksnas")
    if family == LINEAR_FAMILY:
        return LinearNet.from_export(meta)
    for method in METHODS.values():
        if method.family == family:
            return method.net_from_export(meta)
    raise AutommError(f"unknown network family {family!r} in the export; known: {', '.join(_families())}")


def _families() -> list[str]:
    return sorted({m.family for m in METHODS.values()} | {LINEAR_FAMILY})


__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "MethodOption",
    "SearchContext",
    "SearchMethod",
    "TrialHooks",
    "method_class",
    "network_from_export",
]
