"""`FusionNet`: the network a genotype decodes to.

Every chosen view is aligned to width FD (Linear + ReLU + dropout), fusion nodes combine
slots as the genotype says, and a linear head maps the last slot to class logits.
Parameter names are stable per layer role, for the knowledge base:
``align.<view>.*`` (one per view), ``fusion.n<j>_<op>.*`` (node j; parameter-free
operators have none), ``head.*``.
"""

from __future__ import annotations

import torch
from torch import nn

from automm.ops import make_op
from automm.space import Genotype


class FusionNet(nn.Module):
    """Maps a dict of view tensors (batch, d_view) to logits (batch, n_outputs)."""

    def __init__(
        self,
        genotype: Genotype,
        view_dims: dict[str, int],
        n_outputs: int,
        fusion_dim: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.genotype = genotype
        self.view_order = list(genotype.views)
        self.k = genotype.k
        self.align = nn.ModuleDict(
            {
                v: nn.Sequential(nn.Linear(view_dims[v], fusion_dim), nn.ReLU(), nn.Dropout(dropout))
                for v in genotype.views
            }
        )
        self.node_inputs = [(n.left, n.right) for n in genotype.nodes]
        self.fusion = nn.ModuleList([make_op(n.op, fusion_dim) for n in genotype.nodes])
        self.fusion_names = [f"n{j}_{n.op}" for j, n in enumerate(genotype.nodes)]
        self.head = nn.Linear(fusion_dim, n_outputs)

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        slots = [self.align[v](views[v]) for v in self.view_order]
        for (a, b), op in zip(self.node_inputs, self.fusion, strict=True):
            slots.append(op(slots[a], slots[b]))
        return self.head(slots[-1])

    def layer_state(self) -> dict[str, torch.Tensor]:
        """Parameters keyed by stable layer names (see module docstring)."""
        out: dict[str, torch.Tensor] = {}
        for name, tensor in self.state_dict().items():
            if name.startswith("fusion."):
                _, j, rest = name.split(".", 2)
                name = f"fusion.{self.fusion_names[int(j)]}.{rest}"
            out[name] = tensor
        return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
