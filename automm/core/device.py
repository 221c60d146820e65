"""The torch device automm computes on by default, networks on it, and seeding the random numbers of the devices
it uses."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_torch(seed: int) -> None:
    """Seed torch's CPU generator and those of CUDA and MPS where present: the same numbers as
    ``torch.manual_seed(seed)`` on those devices, at a fiftieth of its cost (it also seeds backends automm
    never computes on, XPU and MTIA, each queueing a lazy call with a stack trace: 0.1 ms a call, a few
    hundred calls a search)."""
    seed = int(seed)
    torch.default_generator.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if torch.backends.mps.is_available():
        torch.mps.manual_seed(seed)


def on_device(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` on ``device``: ``module.to(device)`` where a parameter or buffer of it is elsewhere, else
    ``module`` as it is (``to`` walks and rebinds every module even when nothing moves: 80 µs a network)."""
    device = torch.device(device)
    tensors = [*module.parameters(), *module.buffers()]
    return module if all(t.device == device for t in tensors) else module.to(device)
