"""What the gradient-based searches (BM-NAS, MMnas) share: the annealed weight learning rate, one
optimiser step, and endless validation batches."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from automm.engine.training import TensorData


def anneal(optimiser: torch.optim.Optimizer, lr: float, lr_min: float, epoch: int, epochs: int) -> None:
    """Set ``optimiser``'s learning rate for (0-based) ``epoch`` of ``epochs``: cosine from ``lr`` to ``lr_min``."""
    for group in optimiser.param_groups:
        group["lr"] = lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def optimiser_step(
    net: nn.Module, optimiser: torch.optim.Optimizer, criterion: nn.Module, data: TensorData, idx: torch.Tensor
) -> None:
    """One step of ``optimiser`` on rows ``idx`` of ``data``: only its parameters change (every
    gradient is cleared first, so network and architecture steps do not mix)."""
    net.zero_grad(set_to_none=True)
    loss = criterion(net(data.batch(idx)), data.labels[idx])
    loss.backward()
    optimiser.step()


def endless_batches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Row batches of ``n`` rows, reshuffled on every pass, without end."""
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for i in range(0, n, batch_size):
            yield order[i : i + batch_size]
