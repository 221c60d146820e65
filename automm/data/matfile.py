"""Multi-view MATLAB `.mat` files: an ``X`` cell of views plus ``Y``/``gt``/``gnd`` labels.

Accepted layouts (scipy.io, MATLAB v5/v7):

- ``X``: a 1 x V or V x 1 cell of views, each N x d or d x N (transposed views are
  detected from the label count), dense or sparse; labels under ``Y``, ``y``, ``gt``,
  ``gnd``, ``label``, ``labels`` or ``truth``, 1-based, 0-based or any integer codes, or
  an N x C 0/1 matrix (multilabel). An optional fixed split under ``train``/``test``
  (or ``train_idx``/``test_idx``) index vectors, 1-based if no index is 0.
- Split files as in ``handwritten_6views.mat``: ``x1_train``..``xV_train``,
  ``x1_test``..``xV_test`` with ``gt_train``/``gt_test``.

Views are named by an optional ``view_names`` entry of the file (a cell or char matrix of V strings,
``modality/feature`` to say which modality each belongs to, e.g. ``image/googlenet``), else by the
caller's names, else ``view1..viewV`` (each its own modality).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import re
import warnings
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse

from automm.core.errors import AutommError
from automm.data.dataset import MultimodalDataset
from automm.data.file_checks import checked_path
from automm.data.labels import encode_labels
from automm.data.splits import make_splits, whole_numbers

LABEL_KEYS = ("Y", "y", "gt", "gnd", "label", "labels", "truth")
SPLIT_KEYS = (("train", "test"), ("train_idx", "test_idx"), ("train_index", "test_index"))


def dense_view(arr: object, where: str) -> np.ndarray:
    if scipy.sparse.issparse(arr):
        arr = arr.toarray()
    arr = np.asarray(arr)
    if arr.dtype == object:
        raise AutommError(f"{where}: expected a numeric matrix, found a nested cell")
    if arr.dtype.kind not in "biuf":
        raise AutommError(f"{where}: expected a numeric matrix, got {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise AutommError(f"{where}: expected a 2-D matrix, got shape {arr.shape}")
    with np.errstate(over="ignore"):  # values past float32 become inf, which the data set refuses
        return arr.astype(np.float32)


def _orient(arr: np.ndarray, n: int, where: str) -> np.ndarray:
    if arr.shape[0] == n:
        return arr
    if arr.shape[1] == n:
        return arr.T
    raise AutommError(f"{where}: shape {arr.shape} matches neither dimension to the {n} labels")


def read_mat(path: Path) -> dict[str, object]:
    checked_path(path)
    _reader_survives(path)
    try:
        return scipy.io.loadmat(str(path))
    except NotImplementedError as exc:  # MATLAB v7.3 is HDF5
        raise AutommError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save with -v7") from exc
    except Exception as exc:  # scipy raises many types for corrupt files
        raise AutommError(f"{path}: not a readable .mat file ({exc})") from exc


def _reader_survives(path: Path) -> None:
    """Refuse a file that crashes scipy's MAT reader. A damaged file can kill the process (seen: scipy
    1.17.1, segmentation fault and bus error in ``read_var_array`` on a 1.2 KB file with changed bytes), so
    where ``os.fork`` exists the file is first read in a forked child (``os.fork`` itself, so that a daemonic
    worker of a process pool may do it too); a child killed by a signal means the file is refused with one
    line instead of taking the search down with it."""
    if not hasattr(os, "fork"):
        return
    with warnings.catch_warnings():  # Python >= 3.12 warns on fork with threads; the child only reads a file
        warnings.filterwarnings(
            "ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning
        )
        pid = os.fork()
    if pid == 0:  # the child: read, then leave at once (no cleanup of the parent's state)
        faulthandler.disable()  # a crash here is expected and reported by the parent, not dumped
        with contextlib.suppress(BaseException):  # errors are the parent's to report; only a crash matters
            scipy.io.loadmat(str(path))
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        signal = os.WTERMSIG(status)
        raise AutommError(f"{path}: not a readable .mat file (scipy's reader crashed on it, signal {signal})")


def view_name_list(raw: object, path: Path) -> list[str]:
    """The strings of a MATLAB cell of strings or a char matrix (one per row)."""
    arr = np.asarray(raw)
    if arr.dtype.kind in "US":  # a char matrix (scipy reads its rows as strings)
        items = [str(x) for x in arr.ravel()]
    else:
        items = [str(np.asarray(x).ravel()[0]) if np.asarray(x).size else "" for x in arr.ravel()]
    names = [item.strip() for item in items]
    if not all(names) or len(set(names)) != len(names):
        raise AutommError(f"{path}: view_names must be distinct, non-empty strings, got {names}")
    return names


def _to_index(arr: object, what: str) -> np.ndarray:
    """Whole-numbered indices as int64 (not yet shifted or range-checked)."""
    values = np.asarray(arr)
    if values.dtype.kind not in "iuf" or values.size == 0:
        raise AutommError(f"{what} must be a non-empty vector of row indices, got {values.dtype} {values.shape}")
    return whole_numbers(values, what)


def load_mat(
    path: str | Path,
    *,
    name: str | None = None,
    view_names: list[str] | None = None,
    class_names: list[str] | None = None,
    seed: int = 0,
) -> MultimodalDataset:
    """Load a multi-view `.mat` file (layouts in the module docstring) into a dataset."""
    path = Path(path).expanduser()
    mat = read_mat(path)
    keys = {k for k in mat if not k.startswith("__")}
    split_views = sorted(
        (k for k in keys if re.fullmatch(r"[xX]\d+_train", k)), key=lambda k: int(re.findall(r"\d+", k)[0])
    )
    name = name or path.stem
    train = None
    if split_views:
        views, labels_raw, test = _split_layout(mat, split_views, path)
    else:
        views, labels_raw, train, test = _cell_layout(mat, keys, path)
    labels, task, names = encode_labels(labels_raw, str(path))
    n = labels.shape[0]
    views = [_orient(v, n, f"{path}: view {i + 1}") for i, v in enumerate(views)]
    if view_names is None and "view_names" in mat:
        view_names = view_name_list(mat["view_names"], path)
    if view_names is None:
        view_names = [f"view{i + 1}" for i in range(len(views))]
    if len(view_names) != len(views):
        raise AutommError(f"{path}: {len(views)} views but {len(view_names)} view names")
    try:
        splits = make_splits(labels, seed=seed, test=test, train=train)
    except AutommError as exc:
        raise AutommError(f"{path}: {exc}") from None
    return MultimodalDataset(
        name=name,
        views=dict(zip(view_names, views, strict=True)),
        labels=labels,
        task=task,  # type: ignore[arg-type]
        splits=splits,
        class_names=class_names or names,
        description=f"from {path}",
    )


def _label_array(raw: object) -> np.ndarray:
    """Labels with MATLAB's N x 1 / 1 x N vectors flattened; (N, C) matrices kept."""
    arr = np.asarray(raw)
    return arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr


def _split_layout(mat: dict, split_views: list[str], path: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    label_train = next((mat[k] for k in ("gt_train", "Y_train", "y_train") if k in mat), None)
    label_test = next((mat[k] for k in ("gt_test", "Y_test", "y_test") if k in mat), None)
    if label_train is None or label_test is None:
        raise AutommError(f"{path}: split layout needs gt_train and gt_test label keys")
    lt, le = _label_array(label_train), _label_array(label_test)
    views = []
    for key in split_views:
        test_key = key.replace("_train", "_test")
        if test_key not in mat:
            raise AutommError(f"{path}: {key} has no matching {test_key}")
        a = _orient(dense_view(mat[key], f"{path}: {key}"), lt.shape[0], f"{path}: {key}")
        b = _orient(dense_view(mat[test_key], f"{path}: {test_key}"), le.shape[0], f"{path}: {test_key}")
        if a.shape[1] != b.shape[1]:
            raise AutommError(f"{path}: {key} and {test_key} differ in width ({a.shape[1]} vs {b.shape[1]})")
        views.append(np.concatenate([a, b]))
    test = np.arange(lt.shape[0], lt.shape[0] + le.shape[0])
    return views, np.concatenate([lt, le]), test


def _cell_layout(
    mat: dict, keys: set[str], path: Path
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(views, labels, train rows, test rows) of the ``X`` cell layout; the split is 0-based here."""
    if "X" not in mat and "x" not in mat:
        raise AutommError(f"{path}: no 'X' cell of views (keys found: {', '.join(sorted(keys))})")
    cell = np.asarray(mat["X"] if "X" in mat else mat["x"])
    if cell.dtype != object:
        raise AutommError(f"{path}: 'X' must be a cell array of views, got a plain {cell.dtype} matrix")
    label_key = next((k for k in LABEL_KEYS if k in mat), None)
    if label_key is None:
        raise AutommError(f"{path}: no labels; expected one of the keys {', '.join(LABEL_KEYS)}")
    views = [dense_view(v, f"{path}: X{{{i + 1}}}") for i, v in enumerate(cell.reshape(-1))]
    labels = _label_array(mat[label_key])
    n = labels.shape[0]
    for tr_key, te_key in SPLIT_KEYS:
        if tr_key in mat and te_key in mat:
            tr, te = _to_index(mat[tr_key], f"{path}: {tr_key}"), _to_index(mat[te_key], f"{path}: {te_key}")
            if min(tr.min(), te.min()) >= 1:  # MATLAB 1-based unless an index is 0
                tr, te = tr - 1, te - 1
            if max(tr.max(), te.max()) >= n or min(tr.min(), te.min()) < 0:
                raise AutommError(f"{path}: {tr_key}/{te_key} indices fall outside the {n} samples")
            return views, labels, tr, te
        if (tr_key in mat) != (te_key in mat):
            raise AutommError(f"{path}: {tr_key} and {te_key} come together; the file has only one of them")
    return views, labels, None, None
