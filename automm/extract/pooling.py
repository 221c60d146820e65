"""How a backbone's feature map (B, C, H, W) becomes a feature: a vector, or a grid of tokens."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def pool_map(x: torch.Tensor, grid: int | None = None) -> torch.Tensor:
    """The spatial mean (B, C) of ``x``; with ``grid`` G, its average over a G x G grid of cells as
    G*G tokens in row-major order, (B, G*G, C) (adaptive pooling: a map smaller than G repeats cells)."""
    if grid is None:
        return x.mean(dim=(2, 3))
    return F.adaptive_avg_pool2d(x, grid).flatten(2).transpose(1, 2)
