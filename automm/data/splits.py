"""Seeded stratified train/validation/test splits."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from automm.core.errors import AutommError
from automm.data.dataset import Splits

MIN_SAMPLES = 10  # fewer rows cannot be split into train, validation and test and still be scored


def _stratify_key(labels: np.ndarray) -> np.ndarray | None:
    """Class labels for multiclass; None (plain shuffle) where stratifying is impossible."""
    if labels.ndim != 1:
        return None
    _, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 else None


def split_off(idx: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) rows of ``idx``: ``fraction`` held out, stratified by class where every class has 2 rows."""
    key = _stratify_key(labels[idx])
    try:
        keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=key)
    except ValueError:  # too few samples of some class for the requested fraction
        try:
            keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=None)
        except ValueError:
            raise AutommError(f"{len(idx)} rows are too few to split off {fraction:.0%} of them") from None
    return np.sort(keep), np.sort(held)


def whole_numbers(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` (numbers, flattened) as int64, if every one is whole (floats such as 3.0 allowed)."""
    values = values.reshape(-1)
    if values.dtype.kind == "f" and not (np.isfinite(values).all() and np.all(np.mod(values, 1) == 0)):
        raise AutommError(f"{what} must hold whole numbers (row indices), got fractional or missing values")
    return values.astype(np.int64)


def as_index(raw: object, what: str, n: int) -> np.ndarray:
    """A 1-D array of distinct row indices in [0, n) (whole-numbered floats allowed), else `AutommError`."""
    arr = np.asarray(raw)
    if arr.dtype.kind not in "iuf" or arr.ndim > 2 or (arr.ndim == 2 and 1 not in arr.shape):
        raise AutommError(f"{what} must be a vector of row indices, got {arr.dtype} of shape {arr.shape}")
    idx = whole_numbers(arr, what)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise AutommError(f"{what} has indices outside the {n} samples")
    if np.unique(idx).size != idx.size:
        raise AutommError(f"{what} repeats indices")
    return idx


def make_splits(
    labels: np.ndarray,
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    test: np.ndarray | None = None,
    train: np.ndarray | None = None,
) -> Splits:
    """Split rows into train/val/test, stratified by class for multiclass labels.

    With ``test`` given (a fixed test split), only validation is carved out of the rest,
    as ``val_fraction`` of the non-test rows; with ``train`` given too, out of ``train`` only
    (rows in neither are not used; ``train`` and ``test`` must not overlap). Otherwise
    ``test_fraction`` of all rows becomes test, then ``val_fraction`` of all rows becomes validation.
    """
    n = labels.shape[0]
    if n < MIN_SAMPLES:
        raise AutommError(f"{n} samples are too few to split and score; automm needs at least {MIN_SAMPLES}")
    all_idx = np.arange(n)
    if test is None:
        if train is not None:
            raise AutommError("a fixed train split needs a fixed test split too")
        rest, test = split_off(all_idx, labels, test_fraction, seed)
        val_share = val_fraction / (1.0 - test_fraction)
    else:
        test = np.sort(as_index(test, "the test split", n))
        rest = np.setdiff1d(all_idx, test)
        if train is not None:
            train = np.sort(as_index(train, "the train split", n))
            shared = np.intersect1d(train, test)
            if shared.size:
                raise AutommError(f"the train and test splits share {shared.size} samples")
            rest = train
        val_share = val_fraction
    train, val = split_off(rest, labels, val_share, seed + 1)
    return Splits(train=train, val=val, test=test)
