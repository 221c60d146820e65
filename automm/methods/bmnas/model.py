"""`BMNASNet`: the network of a derived `BMNASGenotype`, and the layers the search's supernet shares with it.

Every view a cell reads becomes a feature map of L positions by C channels (`FeatureMap`: a learned
reshape, linear to C*L; a token view's tokens are first pooled into L chunks, each position reading
its own chunk); cell k combines its two inputs through its steps (`DerivedCell`); every
cell's output feeds the head, which flattens their concatenation to class logits.
State-dict names: ``maps.<view>.*``, ``cells.<k>.ops.<j>.*``, ``cells.<k>.proj.*``, ``cells.<k>.norm.*``,
``head.*``.
"""

from __future__ import annotations

import torch
from torch import nn

from automm.data.tokens import mask_key
from automm.methods.bmnas.ops import make_step_op
from automm.methods.bmnas.space import BMNASGenotype, Cell


class FeatureMap(nn.Module):
    """A view as a feature map (N, L, C), normalised over channels.

    A vector view (N, d): a linear layer to C*L, reshaped (position l is the map W_l x + b_l of the
    vector). A token view (N, L_in, d) with its padding mask: its real tokens are averaged over L
    consecutive chunks of its positions (adaptive pooling; an all-padding chunk is 0), and position l
    is W_l chunk_l + b_l, with the same weights, so one module serves both kinds.
    """

    def __init__(self, in_dim: int, channels: int, length: int, dropout: float) -> None:
        super().__init__()
        self.channels, self.length = channels, length
        self.linear = nn.Linear(in_dim, channels * length)
        self.norm = nn.LayerNorm(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim == 2:
            h = self.linear(x).view(x.shape[0], self.length, self.channels)
        else:
            weight = self.linear.weight.view(self.length, self.channels, -1)
            h = torch.einsum("nld,lcd->nlc", chunk_means(x, mask, self.length), weight)
            h = h + self.linear.bias.view(self.length, self.channels)
        return self.drop(self.norm(h))


def chunk_means(tokens: torch.Tensor, mask: torch.Tensor | None, length: int) -> torch.Tensor:
    """(N, L_in, d) -> (N, length, d): the mean of the real tokens in each of ``length`` consecutive
    chunks of positions (adaptive average pooling, padding left out; a chunk without any is 0)."""
    x = tokens.transpose(1, 2)
    if mask is None:
        return nn.functional.adaptive_avg_pool1d(x, length).transpose(1, 2)
    real = mask.unsqueeze(1).to(x.dtype)
    total = nn.functional.adaptive_avg_pool1d(x * real, length)
    share = nn.functional.adaptive_avg_pool1d(real, length)
    return (total / share.clamp(min=1e-6)).transpose(1, 2)


class CellOutput(nn.Module):
    """A cell's steps, concatenated over channels, projected back to C and normalised."""

    def __init__(self, steps: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(steps * channels, channels)
        self.norm = nn.LayerNorm(channels)

    def forward(self, steps: list[torch.Tensor]) -> torch.Tensor:
        return self.norm(self.proj(torch.cat(steps, dim=-1)))


class DerivedCell(nn.Module):
    """One cell of a genotype: fixed inputs, one op per step."""

    def __init__(self, cell: Cell, channels: int) -> None:
        super().__init__()
        self.cell = cell
        self.ops = nn.ModuleList([make_step_op(s.op, channels) for s in cell.steps])
        self.output = CellOutput(len(cell.steps), channels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        nodes = {"x": x, "y": y}
        outs = []
        for j, (step, op) in enumerate(zip(self.cell.steps, self.ops, strict=True)):
            nodes[f"step.{j}"] = op(nodes[step.x], nodes[step.y])
            outs.append(nodes[f"step.{j}"])
        return self.output(outs)


def classifier_head(n_cells: int, channels: int, length: int, n_outputs: int, dropout: float) -> nn.Module:
    """The cells' outputs, concatenated over channels and flattened, to logits."""
    return nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(n_cells * channels * length, n_outputs))


class BMNASNet(nn.Module):
    """Maps a dict of view tensors (N, d_view), or token views (N, L_in, d) with their ``<view>_mask``,
    to logits (N, n_outputs) as ``genotype`` says."""

    def __init__(self, genotype: BMNASGenotype, view_dims: dict[str, int], n_outputs: int, dropout: float) -> None:
        super().__init__()
        self.genotype = genotype
        self.view_order = list(genotype.views)  # the views it reads (an export asks for these only)
        c, n = genotype.channels, genotype.length
        self.maps = nn.ModuleDict({v: FeatureMap(view_dims[v], c, n, dropout) for v in genotype.views})
        self.cells = nn.ModuleList([DerivedCell(cell, c) for cell in genotype.cells])
        self.head = classifier_head(len(genotype.cells), c, n, n_outputs, dropout)

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        states = {v: m(views[v], views.get(mask_key(v))) for v, m in self.maps.items()}
        outs = []
        for k, (cell, module) in enumerate(zip(self.genotype.cells, self.cells, strict=True)):
            states[f"cell.{k}"] = module(states[cell.x], states[cell.y])
            outs.append(states[f"cell.{k}"])
        return self.head(torch.cat(outs, dim=-1))
