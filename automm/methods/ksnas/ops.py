"""Binary fusion operators over two (batch, FD) tensors; each returns (batch, FD)."""

from __future__ import annotations

import torch
from torch import nn


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


class ConcatProject(nn.Module):
    """Concatenate, then project back to FD with a fully connected layer and ReLU."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.proj(torch.cat([x, y], dim=-1)))


def make_op(name: str, dim: int) -> nn.Module:
    """The fusion operator called ``name`` (one of `automm.settings.FUSION_OPS`) for width ``dim``."""
    if name == "concat":
        return ConcatProject(dim)
    return {"add": Add, "mul": Mul, "max": Max, "avg": Avg}[name]()
