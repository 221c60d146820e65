"""Per-view standardisation with statistics from the fitting rows only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardizer:
    """Per-view mean and scale; constant features get scale 1 (they become 0)."""

    mean: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]

    @classmethod
    def fit(cls, views: dict[str, np.ndarray], rows: np.ndarray) -> Standardizer:
        mean, scale = {}, {}
        for name, arr in views.items():
            part = arr[rows].astype(np.float64)
            mu = part.mean(axis=0)
            sd = part.std(axis=0)
            sd[sd < 1e-8] = 1.0
            mean[name], scale[name] = mu.astype(np.float32), sd.astype(np.float32)
        return cls(mean, scale)

    def transform(self, views: dict[str, np.ndarray], rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        out = {}
        for name, arr in views.items():
            part = arr if rows is None else arr[rows]
            out[name] = ((part - self.mean[name]) / self.scale[name]).astype(np.float32)
        return out
