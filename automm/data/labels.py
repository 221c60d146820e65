"""Turn raw label arrays from files into automm's label conventions."""

from __future__ import annotations

import numpy as np

from automm.core.errors import AutommError


def encode_labels(raw: np.ndarray, source: str) -> tuple[np.ndarray, str, list[str]]:
    """Return (labels, task, class_names) for a raw label array.

    A vector (or N x 1 / 1 x N matrix) is multiclass: its distinct values, sorted, become
    classes 0..C-1, so 1-based, 0-based and arbitrary integer codes all work, and so do strings
    (``"cat"``, ``"dog"``: the class names). An N x C matrix of 0/1 with C > 1 is multilabel.
    """
    arr = np.asarray(raw)
    if arr.dtype == object:
        raise AutommError(f"{source}: labels must be a numeric or string array, got a cell/object array")
    if arr.size == 0:
        raise AutommError(f"{source}: labels are empty")
    if arr.dtype.kind in "SU":
        return _string_labels(arr, source)
    if arr.dtype.kind not in "biuf":
        raise AutommError(f"{source}: labels must be integers, 0/1 columns or strings, got dtype {arr.dtype}")
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim == 1:
        if not np.isfinite(arr.astype(np.float64)).all():
            raise AutommError(f"{source}: labels contain NaN or inf")
        values, codes = np.unique(arr, return_inverse=True)
        if np.issubdtype(values.dtype, np.floating) and not np.all(np.mod(values, 1) == 0):
            raise AutommError(f"{source}: multiclass labels must be integers, got fractional values")
        names = [str(int(v)) if np.issubdtype(values.dtype, np.number) else str(v) for v in values]
        return codes.astype(np.int64), "multiclass", names
    if arr.ndim == 2:
        if not np.isin(arr, (0, 1)).all():
            raise AutommError(f"{source}: a 2-D label matrix must hold 0/1 (multilabel), got other values")
        return arr.astype(np.float32), "multilabel", [str(i) for i in range(arr.shape[1])]
    raise AutommError(f"{source}: labels must be 1-D or 2-D, got shape {arr.shape}")


def _string_labels(arr: np.ndarray, source: str) -> tuple[np.ndarray, str, list[str]]:
    """Multiclass labels given as strings (a MATLAB char matrix arrives as one string per row)."""
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise AutommError(f"{source}: string labels must be one per sample, got shape {arr.shape}")
    text = np.array([x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in arr]).astype(str)
    text = np.char.strip(text)
    if (text == "").any():
        raise AutommError(f"{source}: {int((text == '').sum())} labels are empty strings")
    values, codes = np.unique(text, return_inverse=True)
    return codes.astype(np.int64), "multiclass", [str(v) for v in values]
