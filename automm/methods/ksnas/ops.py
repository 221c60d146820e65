"""Binary fusion operators over two (batch, FD) tensors; each returns (batch, FD).

``attention`` and ``glu`` are BM-NAS's step ops (`automm.methods.bmnas.ops`), opt-in through
``--ops``: ``glu`` gates x W1 by sigmoid(y W2); ``attention`` reads each vector as `positions`
positions of FD / positions channels and lets x's positions attend to y's. Both are asymmetric;
a genotype orders a node's operands canonically (`automm.methods.ksnas.space`), so the first
operand in that order is the query (value) side.
"""

from __future__ import annotations

import torch
from torch import nn

from automm.methods.bmnas.ops import ConcatFC, LinearGLU, ScaledDotAttention


class Add(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class Mul(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x * y


class Max(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, y)


class Avg(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x + y)


def positions(dim: int) -> int:
    """Positions a width-``dim`` vector is read as by ``attention``: the largest of 8, 4, 2, 1 dividing ``dim``."""
    return next(p for p in (8, 4, 2, 1) if dim % p == 0)


class VectorAttention(nn.Module):
    """Scaled dot-product attention between two vectors read as `positions` positions each."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.positions = positions(dim)
        self.attend = ScaledDotAttention()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0], self.positions, x.shape[-1] // self.positions)
        return self.attend(x.reshape(shape), y.reshape(shape)).reshape(x.shape)


def make_op(name: str, dim: int) -> nn.Module:
    """The fusion operator called ``name`` (one of `automm.settings.KNOWN_OPS`) for width ``dim``."""
    if name == "concat":
        return ConcatFC(dim)  # concatenate, then project back to FD with a fully connected layer and ReLU
    if name == "glu":
        return LinearGLU(dim)
    if name == "attention":
        return VectorAttention(dim)
    return {"add": Add, "mul": Mul, "max": Max, "avg": Avg}[name]()
