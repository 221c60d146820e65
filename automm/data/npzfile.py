"""automm's `.npz` layout for users' own features.

Keys (all arrays, rows aligned):

- ``views/<modality>/<feature>``: one (N, d) float array per view, e.g. ``views/image/layer3``;
  a key ``views/<name>`` without a second '/' is a view that is its own modality.
- ``labels``: (N,) integer class codes (any integers; sorted distinct values become classes)
  or (N, C) 0/1 for multilabel.
- optional ``class_names``: (C,) strings.
- optional ``train``, ``val``, ``test``: 0-based row-index arrays. With all three, they are
  used as given; with only ``test``, validation is carved from the rest; with none, a seeded
  stratified 60/20/20 split is made.

Write one with ``numpy.savez(path, **{"views/image/layer3": a, "views/text/minilm": b, "labels": y})``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from automm.data.dataset import MultimodalDataset, Splits
from automm.data.labels import encode_labels
from automm.data.splits import make_splits
from automm.errors import AutommError


def load_npz(path: str | Path, *, name: str | None = None, seed: int = 0) -> MultimodalDataset:
    """Load the documented `.npz` layout into a dataset (never unpickles)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise AutommError(f"{path}: no such file")
    try:
        archive = np.load(path, allow_pickle=False)
        arrays = {k: archive[k] for k in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise AutommError(f"{path}: not a readable .npz file without pickled objects ({exc})") from exc
    views = {k.removeprefix("views/"): v for k, v in arrays.items() if k.startswith("views/")}
    if not views:
        raise AutommError(f"{path}: no views; store each view under a key 'views/<modality>/<feature>'")
    if "labels" not in arrays:
        raise AutommError(f"{path}: no 'labels' array")
    labels, task, names = encode_labels(arrays["labels"], str(path))
    if "class_names" in arrays:
        names = [str(c) for c in arrays["class_names"]]
    if all(k in arrays for k in ("train", "val", "test")):
        splits = Splits(train=arrays["train"], val=arrays["val"], test=arrays["test"])
    else:
        splits = make_splits(labels, seed=seed, test=arrays.get("test"))
    return MultimodalDataset(
        name=name or path.stem,
        views=views,
        labels=labels,
        task=task,  # type: ignore[arg-type]
        splits=splits,
        class_names=names,
        description=f"from {path}",
    )
