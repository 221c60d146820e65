"""`MFASNet`: the network of an MFAS chain, ``h_l = sigma(W_l [x_a; y_b; h_{l-1}])``, then a linear head."""

from __future__ import annotations

import torch
from torch import nn

from automm.methods.mfas.space import MFASGenotype

_ACT = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}


class MFASNet(nn.Module):
    """The network of an `MFASGenotype`; weights named ``layers.<l>.0.*`` and ``head.*``."""

    def __init__(
        self, genotype: MFASGenotype, view_dims: dict[str, int], n_outputs: int, hidden: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.genotype = genotype
        self.view_order = list(genotype.views)
        self.layer_inputs = [list(layer.features) for layer in genotype.layers]
        blocks = []
        for i, layer in enumerate(genotype.layers):
            width = sum(view_dims[f] for f in layer.features) + (hidden if i else 0)
            blocks.append(nn.Sequential(nn.Linear(width, hidden), _ACT[layer.activation](), nn.Dropout(dropout)))
        self.layers = nn.ModuleList(blocks)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        h: torch.Tensor | None = None
        for inputs, block in zip(self.layer_inputs, self.layers, strict=True):
            parts = [views[f] for f in inputs]
            if h is not None:
                parts.append(h)
            h = block(torch.cat(parts, dim=-1))
        assert h is not None
        return self.head(h)
