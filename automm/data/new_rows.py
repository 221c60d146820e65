"""Rows to predict: the views of new samples, without labels, from the files a search reads.

`read_new_rows` takes the layouts of `automm.data.npzfile` (an ``.npz``, or a folder of ``.npy``) and
`automm.data.matfile` (an ``X`` cell of views, named by ``view_names`` or ``view1..viewV``), ignores
labels and splits if present, and keeps an optional ``id`` (or ``ids``) vector of one id per row. A
``.mat`` view stored d x N is turned round when the model's width says so. Every view must have the same
number of rows; names, widths, NaN and token masks are checked by the model (`FusionModel.predict`).
Nothing is ever unpickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automm.core.errors import AutommError
from automm.data.file_checks import checked_path, shown
from automm.data.matfile import dense_view, read_mat, view_name_list
from automm.data.npzfile import read_npy_folder, read_npz
from automm.data.tokens import MASK_SUFFIX

ID_KEYS = ("id", "ids")


@dataclass(frozen=True)
class NewRows:
    """``views``: every view by name, token views' masks under ``<view>_mask``; ``ids``: one per row, or None."""

    views: dict[str, np.ndarray]
    ids: np.ndarray | None
    source: Path

    def __len__(self) -> int:
        return int(next(iter(self.views.values())).shape[0])


def read_new_rows(path: str | Path, widths: Mapping[str, int] | None = None) -> NewRows:
    """The rows in ``path`` (``.npz``, ``.mat`` or a folder of ``.npy``); ``widths``: the model's views, used to
    orient a ``.mat`` view stored d x N."""
    path = Path(path).expanduser()
    if path.is_dir():
        arrays = _npy_folder(path)
    elif path.suffix.lower() == ".npz":
        arrays = read_npz(path)
    elif path.suffix.lower() == ".mat":
        return _mat(path, widths or {})
    else:
        checked_path(path)
        raise AutommError(f"{shown(path)}: give an .npz file, a .mat file or a folder of .npy files")
    views = {k.removeprefix("views/"): v for k, v in arrays.items() if k.startswith("views/")}
    if not views:
        raise AutommError(f"{shown(path)}: no views; store each view under a key 'views/<modality>/<feature>'")
    ids = next((arrays[k] for k in ID_KEYS if k in arrays), None)
    return _checked(views, ids, path)


def _npy_folder(path: Path) -> dict[str, np.ndarray]:
    arrays = read_npy_folder(path)
    if not arrays:
        raise AutommError(f"{path}: no .npy files; store each view as views/<modality>/<feature>.npy")
    return arrays


def _mat(path: Path, widths: Mapping[str, int]) -> NewRows:
    mat = read_mat(path)
    cell = mat.get("X", mat.get("x"))
    if cell is None or np.asarray(cell).dtype != object:
        raise AutommError(f"{path}: no 'X' cell of views (a .mat file of new rows holds its views in one)")
    arrays = [dense_view(v, f"{path}: X{{{i + 1}}}") for i, v in enumerate(np.asarray(cell).reshape(-1))]
    names = [f"view{i + 1}" for i in range(len(arrays))]
    if "view_names" in mat:
        names = view_name_list(mat["view_names"], path)
    if len(names) != len(arrays):
        raise AutommError(f"{path}: {len(arrays)} views but {len(names)} view names")
    views = {}
    for name, arr in zip(names, arrays, strict=True):
        width = widths.get(name)
        turned = arr.ndim == 2 and width is not None and arr.shape[1] != width and arr.shape[0] == width
        views[name] = arr.T if turned else arr
    ids = next((np.asarray(mat[k]).reshape(-1) for k in ID_KEYS if k in mat), None)
    return _checked(views, ids, path)


def _checked(views: dict[str, np.ndarray], ids: np.ndarray | None, source: Path) -> NewRows:
    rows = {name: np.shape(v)[0] if np.ndim(v) else 0 for name, v in views.items()}
    if len(set(rows.values())) > 1:
        counts = ", ".join(f"{name} {n}" for name, n in rows.items())
        raise AutommError(f"{shown(source)}: the views differ in their number of rows ({counts})")
    n = next(iter(rows.values()))
    if n == 0:
        raise AutommError(f"{shown(source)}: no rows to predict")
    if ids is not None:
        ids = np.asarray(ids)
        if ids.ndim != 1 or len(ids) != n or ids.dtype.kind not in "iuUS":
            raise AutommError(f"{shown(source)}: 'id' must be a vector of {n} integers or strings, got {ids.shape}")
    masks = {k for k in views if k.endswith(MASK_SUFFIX) and k.removesuffix(MASK_SUFFIX) in views}
    for key in masks:
        if views[key].dtype != bool:
            raise AutommError(f"{shown(source)}: the mask {key!r} must be a bool array, got {views[key].dtype}")
    return NewRows(views=views, ids=ids, source=source)
