"""Token views (N, L, d) as vectors: the mean over each sample's real tokens.

Methods whose networks take vectors (`SearchMethod.uses_tokens` False: KS-NAS, MFAS, Optuna's
samplers) see every token view of a data set mean-pooled (`pooled`); a delivered model pools the
same way when `automm.export.FusionModel.predict` is given token arrays.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from automm.data.dataset import MultimodalDataset


def pool_tokens(tokens: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(N, L, d) -> (N, d): the mean over the tokens ``mask`` (N, L) marks real (all, without one);
    padded positions may hold anything, NaN included."""
    if mask is None:
        return tokens.mean(axis=1, dtype=np.float64).astype(np.float32)
    real = np.where(mask[:, :, None], tokens, 0.0)
    counts = np.maximum(mask.sum(axis=1, keepdims=True), 1)
    return (real.sum(axis=1, dtype=np.float64) / counts).astype(np.float32)


def pooled(dataset: MultimodalDataset) -> MultimodalDataset:
    """``dataset`` with every token view mean-pooled over its real tokens (itself when it has none)."""
    if not dataset.token_lengths:
        return dataset
    views = {v: pool_tokens(x, dataset.masks.get(v)) if x.ndim == 3 else x for v, x in dataset.views.items()}
    return dataclasses.replace(dataset, views=views, masks={})
