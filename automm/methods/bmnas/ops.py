"""The primitive step ops of BM-NAS over two feature maps (N, L, C): L positions of C channels.

``sum`` x + y; ``attention`` scaled dot-product attention with x as queries and y as keys and values
(guided attention); ``glu`` x W1 * sigmoid(y W2) (LinearGLU); ``concatfc`` ReLU(W [x; y] + b)
(ConcatFC). Each returns (N, L, C). The paper's Zero is the edge choice ``none`` (`automm.methods.bmnas.supernet`).
"""

from __future__ import annotations

import torch
from torch import nn

STEP_OPS: tuple[str, ...] = ("sum", "attention", "glu", "concatfc")


class Sum(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class ScaledDotAttention(nn.Module):
    """softmax(x y^T / sqrt(C)) y over positions: each position of x reads the positions of y."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scores = torch.matmul(x, y.transpose(-2, -1)) * x.shape[-1] ** -0.5
        return torch.matmul(torch.softmax(scores, dim=-1), y)


class LinearGLU(nn.Module):
    """x W1 gated by sigmoid(y W2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.value = nn.Linear(channels, channels)
        self.gate = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.value(x) * torch.sigmoid(self.gate(y))


class ConcatFC(nn.Module):
    """ReLU of a fully connected layer over the concatenated channels (2C -> C)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(2 * channels, channels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.proj(torch.cat([x, y], dim=-1)))


def make_step_op(name: str, channels: int) -> nn.Module:
    """The step op called ``name`` (one of `STEP_OPS`) for ``channels`` channels."""
    if name == "glu":
        return LinearGLU(channels)
    if name == "concatfc":
        return ConcatFC(channels)
    return {"sum": Sum, "attention": ScaledDotAttention}[name]()
