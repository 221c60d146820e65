"""Seeded stratified train/validation/test splits."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from automm.data.dataset import Splits


def _stratify_key(labels: np.ndarray) -> np.ndarray | None:
    """Class labels for multiclass; None (plain shuffle) where stratifying is impossible."""
    if labels.ndim != 1:
        return None
    _, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 else None


def _split(idx: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    key = _stratify_key(labels[idx])
    try:
        keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=key)
    except ValueError:  # too few samples of some class for the requested fraction
        keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=None)
    return np.sort(keep), np.sort(held)


def make_splits(
    labels: np.ndarray,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    test: np.ndarray | None = None,
) -> Splits:
    """Split rows into train/val/test, stratified by class for multiclass labels.

    With ``test`` given (a fixed test split), only validation is carved out of the rest,
    as ``val_fraction`` of the non-test rows. Otherwise ``test_fraction`` of all rows
    becomes test, then ``val_fraction`` of all rows becomes validation.
    """
    n = labels.shape[0]
    all_idx = np.arange(n)
    if test is None:
        rest, test = _split(all_idx, labels, test_fraction, seed)
        val_share = val_fraction / (1.0 - test_fraction)
    else:
        test = np.sort(np.asarray(test, dtype=np.int64))
        rest = np.setdiff1d(all_idx, test)
        val_share = val_fraction
    train, val = _split(rest, labels, val_share, seed + 1)
    return Splits(train=train, val=val, test=test)
