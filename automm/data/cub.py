"""`cub`: the Caltech-UCSD Birds multi-view subset (600 birds, 10 classes, image + text features).

``CUB.mat`` holds an ``X`` cell with GoogLeNet image features (1024-d) and doc2vec text
features (300-d) and ``gnd`` labels 1..10; it is read by the generic `.mat` loader.
"""

from __future__ import annotations

from pathlib import Path

from automm.core.errors import AutommError
from automm.data.dataset import MultimodalDataset
from automm.data.matfile import load_mat

MAT_FILE = "CUB.mat"


def cub_present(data_dir: Path) -> bool:
    return (data_dir / MAT_FILE).is_file()


def load_cub(data_dir: str | Path, seed: int = 0) -> MultimodalDataset:
    path = Path(data_dir).expanduser() / MAT_FILE
    if not path.is_file():
        raise AutommError(f"cub: expected {MAT_FILE} in {path.parent} (multi-view CUB release, image + text features)")
    return load_mat(path, name="cub", view_names=["image/googlenet", "text/doc2vec"], seed=seed)
