"""Per-view standardisation with statistics from the fitting rows only.

A token view (N, L, d) is standardised per channel, with statistics over the real tokens of the
fitting rows (its mask marks them; without a mask every token is real); padded positions stay 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardizer:
    """Per-view (per-channel for token views) mean and scale; constant features get scale 1 (they become 0)."""

    mean: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]

    @classmethod
    def fit(
        cls, views: Mapping[str, np.ndarray], rows: np.ndarray, masks: Mapping[str, np.ndarray] | None = None
    ) -> Standardizer:
        masks = masks or {}
        mean, scale = {}, {}
        for name, arr in views.items():
            part = arr[rows]
            if part.ndim == 3:  # a token view: the real tokens as samples of its d channels
                part = part[masks[name][rows]] if name in masks else part.reshape(-1, part.shape[-1])
            part = part.astype(np.float64)
            mu = part.mean(axis=0)
            sd = part.std(axis=0)
            sd[sd < 1e-8] = 1.0
            mean[name], scale[name] = mu.astype(np.float32), sd.astype(np.float32)
        return cls(mean, scale)

    def transform(
        self,
        views: Mapping[str, np.ndarray],
        rows: np.ndarray | None = None,
        masks: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """The standardised ``rows`` (all without) of ``views``; padding (``masks``) set to 0."""
        masks = masks or {}
        out = {}
        for name, arr in views.items():
            part = arr if rows is None else arr[rows]
            scaled = ((part - self.mean[name]) / self.scale[name]).astype(np.float32)
            if name in masks:
                mask = masks[name] if rows is None else masks[name][rows]
                scaled = np.where(mask[:, :, None], scaled, np.float32(0.0))
            out[name] = scaled
        return out
