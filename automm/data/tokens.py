"""Token views (N, L, d) as vectors: the mean over each sample's real tokens.

Methods whose networks take vectors (`SearchMethod.uses_tokens` False: KS-NAS, MFAS, Optuna's
samplers) see every token view of a data set mean-pooled (`pooled`); a delivered model pools the
same way when `automm.delivery.export.FusionModel.predict` is given token arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from automm.data.dataset import MultimodalDataset

MASK_SUFFIX = "_mask"  # a token view's padding mask travels beside it as "<view>_mask"


def mask_key(view: str) -> str:
    """The key of ``view``'s padding mask in a batch, an ``.npz`` file or `FusionModel.predict`'s input."""
    return view + MASK_SUFFIX


def is_mask_key(key: str, views: Mapping[str, Any]) -> bool:
    """Whether ``key`` is the padding mask of a view in ``views`` (a token view's ``<view>_mask``)."""
    return key.endswith(MASK_SUFFIX) and key.removesuffix(MASK_SUFFIX) in views


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


def pool_token_tensor(tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """`pool_tokens` in torch: (N, L, d) -> (N, d), the mean over the real tokens (padding must be 0);
    a 2-D tensor is returned as it is."""
    if tokens.ndim == 2:
        return tokens
    if mask is None:
        return tokens.mean(dim=1)
    counts = mask.sum(dim=1, keepdim=True).clamp(min=1).to(tokens.dtype)
    return (tokens * mask.unsqueeze(-1).to(tokens.dtype)).sum(dim=1) / counts
