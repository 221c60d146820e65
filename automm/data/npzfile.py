"""automm's array layout for users' own features: one `.npz` file, or a folder of `.npy` files.

Keys (all arrays, rows aligned); in a folder, key ``k`` is the file ``<folder>/k.npy``, so the
folder is exactly an unzipped `.npz` (``views/image/layer3.npy``, ``labels.npy``, ...):

- ``views/<modality>/<feature>``: one (N, d) float array per view, e.g. ``views/image/layer3``;
  a key ``views/<name>`` without a second '/' is a view that is its own modality. A *token view*
  is (N, L, d): L tokens (text tokens, image regions, audio frames) of d channels; padding is
  marked by an optional (N, L) bool ``views/<name>_mask`` (True: a real token).
- ``labels``: (N,) integer class codes (any integers; sorted distinct values become classes)
  or (N, C) 0/1 for multilabel.
- optional ``class_names``: (C,) strings.
- optional ``train``, ``val``, ``test``: 0-based row-index arrays. With all three, they are
  used as given (and automatic cross-validation keeps the given validation rows); with only
  ``test``, validation is carved from the rest; with none, a seeded
  stratified 60/20/20 split is made.

Write one with ``numpy.savez(path, **{"views/image/layer3": a, "views/text/minilm": b, "labels": y})``,
or a folder with one ``numpy.save`` per key (handy when views are computed one at a time).
Nothing is ever unpickled.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from automm.core.errors import AutommError
from automm.data.dataset import MultimodalDataset, Splits
from automm.data.file_checks import checked_path, npy_fits, npz_members_fit, shown
from automm.data.labels import encode_labels
from automm.data.splits import as_index, make_splits
from automm.data.tokens import MASK_SUFFIX, is_mask_key


def load_npz(path: str | Path, *, name: str | None = None, seed: int = 0) -> MultimodalDataset:
    """Load the documented `.npz` layout into a dataset (never unpickles)."""
    path = checked_path(path)
    return dataset_from_arrays(read_npz(path), source=path, name=name or path.stem, seed=seed)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an `.npz` file by key, checked first and never unpickled."""
    path = checked_path(path)
    npz_members_fit(path)  # a zip whose arrays' headers promise no more than they hold
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (ValueError, OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error) as exc:
        raise AutommError(f"{shown(path)}: not a readable .npz file ({exc})") from None


def load_npy_folder(path: str | Path, *, name: str | None = None, seed: int = 0) -> MultimodalDataset:
    """Load the same layout from a folder of `.npy` files, key = path below the folder (never unpickles)."""
    path = checked_path(path, folder=True)
    arrays = read_npy_folder(path)
    if not arrays:
        raise AutommError(f"{path}: no .npy files; store each view as views/<modality>/<feature>.npy beside labels.npy")
    return dataset_from_arrays(arrays, source=path, name=name or path.name, seed=seed)


def read_npy_folder(path: Path) -> dict[str, np.ndarray]:
    """Every `.npy` file below ``path`` by key (its path below the folder, without ``.npy``), checked first
    and never unpickled; empty if there is none."""
    path = checked_path(path, folder=True)
    arrays: dict[str, np.ndarray] = {}
    for file in sorted(path.rglob("*.npy")):
        key = file.relative_to(path).with_suffix("").as_posix()
        with open(checked_path(file), "rb") as handle:
            npy_fits(handle, file.stat().st_size, shown(file))
        try:
            arrays[key] = np.load(file, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise AutommError(f"{shown(file)}: not a readable .npy file ({exc})") from None
    return arrays


def dataset_from_arrays(
    arrays: Mapping[str, np.ndarray], *, source: Path, name: str, seed: int = 0
) -> MultimodalDataset:
    """Build a dataset from the layout's keys; ``source`` names the file or folder in errors."""
    views = {k.removeprefix("views/"): v for k, v in arrays.items() if k.startswith("views/")}
    masks = {k.removesuffix(MASK_SUFFIX): views.pop(k) for k in list(views) if _is_mask(k, views)}
    if not views:
        raise AutommError(f"{source}: no views; store each view under a key 'views/<modality>/<feature>'")
    if "labels" not in arrays:
        raise AutommError(f"{source}: no 'labels' array")
    labels, task, names = encode_labels(arrays["labels"], shown(source))
    if "class_names" in arrays:
        given = np.asarray(arrays["class_names"])
        if given.ndim != 1 or given.dtype.kind not in "USiu":
            raise AutommError(f"{shown(source)}: class_names must be a vector of names, not {given.shape}")
        names = [str(c) for c in given]
    try:
        if all(k in arrays for k in ("train", "val", "test")):
            n = labels.shape[0]
            parts = {k: as_index(arrays[k], f"the {k} split", n) for k in ("train", "val", "test")}
            splits = Splits(**parts)
        else:
            splits = make_splits(labels, seed=seed, test=arrays.get("test"), train=arrays.get("train"))
    except AutommError as exc:
        raise AutommError(f"{shown(source)}: {exc}") from None
    return MultimodalDataset(
        name=name,
        views=views,
        labels=labels,
        task=task,  # type: ignore[arg-type]
        splits=splits,
        class_names=names,
        description=f"from {source}",
        fixed_validation="val" in arrays,
        masks=masks,
    )


def _is_mask(key: str, views: Mapping[str, np.ndarray]) -> bool:
    """Whether ``key`` names the padding mask of a token view (``<view>_mask`` beside a 3-D ``<view>``)."""
    return is_mask_key(key, views) and np.ndim(views[key.removesuffix(MASK_SUFFIX)]) == 3
