"""The torch device automm computes on by default."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
