"""Adam as automm's training loops use it: PyTorch's fused kernel wherever PyTorch has one.

`adam` returns a `torch.optim.Adam` with PyTorch's default update rule and arguments. When every
parameter is a floating-point tensor on a CPU or CUDA device it asks for the fused implementation, one
kernel per step over all the tensors instead of a Python loop of small operations per tensor; fusion
networks are many small layers, where that loop is a large part of a step on a CPU (measured:
`benchmarks/RESULTS.md`, section `fused-adam`). The fused kernel computes the same update; results agree
with the loop's up to floating-point rounding, not bit for bit, and a seed still gives the same run.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

FUSED_DEVICES = ("cpu", "cuda")  # where torch.optim.Adam(fused=True) has a kernel on every supported build


def fused_supported(params: list[torch.Tensor]) -> bool:
    """Whether ``params`` can all be stepped by the fused kernel (floating point, on a `FUSED_DEVICES` device)."""
    return bool(params) and all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in params)


def adam(
    params: Iterable[torch.nn.Parameter],
    *,
    lr: float,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Adam:
    """A `torch.optim.Adam` over ``params``, fused where `fused_supported`, PyTorch's loop otherwise."""
    params = list(params)
    fused = fused_supported(params)
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)
