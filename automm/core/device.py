"""The torch device automm computes on by default, and seeding the random numbers of the devices it uses."""

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
