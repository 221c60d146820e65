"""Fresh networks for an export's members: the method's family, the linear net, or a bag of fold networks."""

from __future__ import annotations

from typing import Any

from torch import nn

from automm.core.errors import AutommError
from automm.engine.bagged import BaggedNet
from automm.engine.linear_net import FAMILY as LINEAR_FAMILY
from automm.engine.linear_net import LinearNet
from automm.methods import DEFAULT_METHOD, METHODS


def network_from_export(meta: dict[str, Any]) -> nn.Module:
    """A fresh network for an export's ``genotype.json`` (its ``space`` names the network family)."""
    bagged = meta.get("bagged")
    if bagged is not None:  # a candidate delivered as its fold networks
        if not isinstance(bagged, int) or bagged < 1:
            raise AutommError(f"a bagged member needs a positive network count, got {bagged!r}")
        single = {k: v for k, v in meta.items() if k != "bagged"}
        return BaggedNet([network_from_export(single) for _ in range(bagged)], meta.get("task") == "multiclass")
    family = meta.get("space", METHODS[DEFAULT_METHOD].family)  # exports of automm 0.1 name no space
    if family == LINEAR_FAMILY:
        return LinearNet.from_export(meta)
    for method in METHODS.values():
        if method.family == family:
            return method.net_from_export(meta)
    raise AutommError(f"unknown network family {family!r} in the export; known: {', '.join(_families())}")


def _families() -> list[str]:
    return sorted({m.family for m in METHODS.values()} | {LINEAR_FAMILY})
