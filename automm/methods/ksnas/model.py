"""`FusionNet`: the network a genotype decodes to; `Supernet`: every layer of the space at once.

Every chosen view is aligned to width FD (Linear + ReLU + dropout), fusion nodes combine
slots as the genotype says, and a linear head maps the last slot to class logits.
State-dict names are stable per layer role, and are the knowledge base's layer names:
``align.<view>.*`` (one per view), ``fusion.n<j>_<op>.*`` (node j; ``concat`` and ``glu`` have
parameters), ``head.*``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from automm.methods.ksnas.ops import make_op
from automm.methods.ksnas.space import Genotype
from automm.settings import FUSION_OPS


def align_layer(in_dim: int, fusion_dim: int, dropout: float) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, fusion_dim), nn.ReLU(), nn.Dropout(dropout))


def fusion_name(position: int, op: str) -> str:
    return f"n{position}_{op}"


class FusionNet(nn.Module):
    """Maps a dict of view tensors (batch, d_view) to logits (batch, n_outputs).

    Built from modules it is given, so a subnet can share a supernet's modules; use
    `build_fusion_net` for a freshly initialised network.
    """

    def __init__(
        self, genotype: Genotype, align: Mapping[str, nn.Module], fusion: Mapping[str, nn.Module], head: nn.Module
    ) -> None:
        super().__init__()
        self.genotype = genotype
        self.view_order = list(genotype.views)
        self.align = nn.ModuleDict({v: align[v] for v in genotype.views})
        names = [fusion_name(j, n.op) for j, n in enumerate(genotype.nodes)]
        self.fusion = nn.ModuleDict({name: fusion[name] for name in names})
        self.node_inputs = [(n.left, n.right) for n in genotype.nodes]
        self.head = head

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        slots = [self.align[v](views[v]) for v in self.view_order]
        for (a, b), op in zip(self.node_inputs, self.fusion.values(), strict=True):
            slots.append(op(slots[a], slots[b]))
        return self.head(slots[-1])


def build_fusion_net(
    genotype: Genotype, view_dims: dict[str, int], n_outputs: int, fusion_dim: int = 256, dropout: float = 0.1
) -> FusionNet:
    """A freshly initialised `FusionNet` (seed torch beforehand for reproducible weights)."""
    align = {v: align_layer(view_dims[v], fusion_dim, dropout) for v in genotype.views}
    fusion = {fusion_name(j, n.op): make_op(n.op, fusion_dim) for j, n in enumerate(genotype.nodes)}
    return FusionNet(genotype, align, fusion, nn.Linear(fusion_dim, n_outputs))


class Supernet(nn.Module):
    """Every layer any genotype over ``view_dims`` with up to ``max_views`` views can use.

    Its state-dict names are `FusionNet`'s, so a KB state warm-starts any genotype's net.
    """

    def __init__(
        self,
        view_dims: dict[str, int],
        n_outputs: int,
        fusion_dim: int,
        max_views: int,
        dropout: float,
        ops: tuple[str, ...] = FUSION_OPS,
    ) -> None:
        """``ops``: the space's operators (a layer for each at each node position)."""
        super().__init__()
        self.align = nn.ModuleDict({v: align_layer(d, fusion_dim, dropout) for v, d in view_dims.items()})
        self.fusion = nn.ModuleDict(
            {fusion_name(j, op): make_op(op, fusion_dim) for j in range(max(max_views - 1, 0)) for op in ops}
        )
        self.head = nn.Linear(fusion_dim, n_outputs)

    def subnet(self, genotype: Genotype) -> FusionNet:
        """A `FusionNet` whose modules are this supernet's (training it trains the supernet)."""
        return FusionNet(genotype, self.align, self.fusion, self.head)
