"""Mixing networks' predictions: `combine` (weighted mean of probabilities, as scores) and
`BaggedNet`, one candidate delivered as its K fold networks.

With K-fold selection, a candidate's out-of-fold score is that of its K fold networks, each
trained on the other folds with early stopping on its own fold. Delivering those K networks,
averaged, delivers what was scored (retraining one network on every row for a guessed epoch count
is a different model; measured in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import torch
from torch import nn

from automm.core.metrics import CLIP


def combine(logits: list[torch.Tensor], weights: list[float], multiclass: bool) -> torch.Tensor:
    """One member: its logits. Several: scores whose softmax (sigmoid) is the weighted mean probability."""
    if len(logits) == 1:
        return logits[0]
    if multiclass:
        probs = sum(w * torch.softmax(x, dim=1) for w, x in zip(weights, logits, strict=True))
        return torch.log(torch.clamp(probs, min=CLIP))
    probs = sum(w * torch.sigmoid(x) for w, x in zip(weights, logits, strict=True))
    probs = torch.clamp(probs, CLIP, 1 - CLIP)
    return torch.log(probs) - torch.log1p(-probs)


class BaggedNet(nn.Module):
    """K networks of one genotype; its output's softmax (sigmoid) is the mean of their probabilities."""

    def __init__(self, nets: list[nn.Module], multiclass: bool) -> None:
        super().__init__()
        if not nets:
            raise ValueError("a bag needs at least one network")
        self.nets = nn.ModuleList(nets)
        self.genotype = nets[0].genotype
        self.view_order = list(nets[0].view_order)
        self.multiclass = multiclass

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        k = len(self.nets)
        return combine([net(views) for net in self.nets], [1.0 / k] * k, self.multiclass)
