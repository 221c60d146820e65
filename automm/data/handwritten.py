"""`handwritten`: UCI Multiple Features (2,000 handwritten digits, six views, 10 classes).

Reads either the fixed-split ``handwritten_6views.mat`` (1,600 train / 400 test) or the
original UCI text files ``mfeat-fou``, ``mfeat-fac``, ``mfeat-kar``, ``mfeat-pix``,
``mfeat-zer``, ``mfeat-mor`` (200 rows per digit, in digit order; seeded stratified split).
Download: https://archive.ics.uci.edu/dataset/72/multiple+features
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automm.core.errors import AutommError
from automm.data.dataset import MultimodalDataset
from automm.data.matfile import load_mat
from automm.data.splits import make_splits

# View order of handwritten_6views.mat (x1..x6) and the UCI file for each.
VIEWS = (
    ("digit/pix", "mfeat-pix", 240),
    ("digit/fou", "mfeat-fou", 76),
    ("digit/fac", "mfeat-fac", 216),
    ("digit/zer", "mfeat-zer", 47),
    ("digit/kar", "mfeat-kar", 64),
    ("digit/mor", "mfeat-mor", 6),
)
MAT_FILE = "handwritten_6views.mat"
CLASS_NAMES = [str(d) for d in range(10)]


def handwritten_present(data_dir: Path) -> bool:
    return (data_dir / MAT_FILE).is_file() or all((data_dir / f).is_file() for _, f, _ in VIEWS)


def load_handwritten(data_dir: str | Path, seed: int = 0) -> MultimodalDataset:
    """Load from ``data_dir``: the .mat file if present, else the six UCI ``mfeat-*`` files."""
    data_dir = Path(data_dir).expanduser()
    if (data_dir / MAT_FILE).is_file():
        return load_mat(
            data_dir / MAT_FILE,
            name="handwritten",
            view_names=[v for v, _, _ in VIEWS],
            class_names=CLASS_NAMES,
            seed=seed,
        )
    missing = [f for _, f, _ in VIEWS if not (data_dir / f).is_file()]
    if missing:
        raise AutommError(
            f"handwritten: expected {MAT_FILE} or the UCI files {', '.join(f for _, f, _ in VIEWS)} in {data_dir}; "
            "download https://archive.ics.uci.edu/dataset/72/multiple+features"
        )
    views = {}
    for view, filename, width in VIEWS:
        try:
            arr = np.loadtxt(data_dir / filename, dtype=np.float32)
        except ValueError as exc:
            raise AutommError(f"{data_dir / filename}: not a whitespace-separated number table ({exc})") from exc
        if arr.shape != (2000, width):
            raise AutommError(f"{data_dir / filename}: expected 2000 x {width} values, got {arr.shape}")
        views[view] = arr
    labels = np.repeat(np.arange(10), 200)
    return MultimodalDataset(
        name="handwritten",
        views=views,
        labels=labels,
        task="multiclass",
        splits=make_splits(labels, seed=seed),
        class_names=CLASS_NAMES,
        description=f"UCI Multiple Features from {data_dir}",
    )
