"""`mmimdb`: MM-IMDB (25,959 movies, poster + plot, 23 genres, multi-label) from its HDF5 release.

``multimodal_imdb.hdf5`` holds ``features`` (N x 300 mean word2vec of the plot), ``vgg_features``
(N x 4096 VGG16 fc7 of the poster), ``genres`` (N x 23 0/1), ``imdb_ids`` and raw ``images`` that
are never read here (only the datasets named below are touched, so loading needs ~0.5 GB).
The split comes from the file's Fuel-style ``split`` attribute when present, else from the
canonical row ranges train [0, 15552), dev [15552, 18160), test [18160, 25959).
Download: http://lisi1.unal.edu.co/mmimdb/ (``multimodal_imdb.hdf5``, about 8 GB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automm.data.dataset import MultimodalDataset, Splits
from automm.errors import AutommError

HDF5_FILE = "multimodal_imdb.hdf5"
GENRES = [
    "Drama",
    "Comedy",
    "Romance",
    "Thriller",
    "Crime",
    "Action",
    "Adventure",
    "Horror",
    "Documentary",
    "Mystery",
    "Sci-Fi",
    "Fantasy",
    "Family",
    "Biography",
    "War",
    "History",
    "Music",
    "Animation",
    "Musical",
    "Western",
    "Sport",
    "Short",
    "Film-Noir",
]
VIEWS = {"text/word2vec": "features", "image/vgg16_fc7": "vgg_features"}
CANONICAL = {"train": (0, 15552), "val": (15552, 18160), "test": (18160, 25959)}
SPLIT_NAMES = {"train": "train", "dev": "val", "valid": "val", "val": "val", "test": "test"}
DOWNLOAD = "download multimodal_imdb.hdf5 from http://lisi1.unal.edu.co/mmimdb/"


def mmimdb_present(data_dir: Path) -> bool:
    return (data_dir / HDF5_FILE).is_file()


def _fuel_splits(attr: np.ndarray, n: int, path: Path) -> Splits:
    """Row ranges from a Fuel ``split`` attribute (fields split, source, start, stop)."""
    ranges: dict[str, tuple[int, int]] = {}
    for row in attr:
        name = row["split"].decode() if isinstance(row["split"], bytes) else str(row["split"])
        part = SPLIT_NAMES.get(name)
        if part is None:
            raise AutommError(f"{path}: unknown split {name!r} in the file's split attribute")
        ranges[part] = (int(row["start"]), int(row["stop"]))
    missing = {"train", "val", "test"} - set(ranges)
    if missing:
        raise AutommError(f"{path}: the split attribute lacks {', '.join(sorted(missing))}")
    if any(stop > n or start < 0 for start, stop in ranges.values()):
        raise AutommError(f"{path}: split ranges exceed the {n} rows")
    return Splits(**{k: np.arange(*ranges[k]) for k in ("train", "val", "test")})


def load_mmimdb(data_dir: str | Path, seed: int = 0) -> MultimodalDataset:
    """Load the HDF5 release from ``data_dir`` (text and VGG views, 23 genres, file's split)."""
    import h5py

    path = Path(data_dir).expanduser() / HDF5_FILE
    if not path.is_file():
        raise AutommError(f"mmimdb: expected {HDF5_FILE} in {path.parent}; {DOWNLOAD}")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in (*VIEWS.values(), "genres") if k not in f]
            if missing:
                raise AutommError(f"{path}: missing dataset(s) {', '.join(missing)}; is this the MM-IMDB release?")
            views = {name: np.asarray(f[key][...], dtype=np.float32) for name, key in VIEWS.items()}
            labels = np.asarray(f["genres"][...])
            n = labels.shape[0]
            if "split" in f.attrs:
                splits = _fuel_splits(np.asarray(f.attrs["split"]), n, path)
            elif n == CANONICAL["test"][1]:
                splits = Splits(**{k: np.arange(*v) for k, v in CANONICAL.items()})
            else:
                raise AutommError(f"{path}: no split attribute and {n} rows instead of 25,959; cannot place the split")
    except OSError as exc:
        raise AutommError(f"{path}: not a readable HDF5 file ({exc})") from exc
    if labels.ndim != 2 or labels.shape[1] != len(GENRES):
        raise AutommError(f"{path}: genres must be N x {len(GENRES)}, got {labels.shape}")
    return MultimodalDataset(
        name="mmimdb",
        views=views,
        labels=(labels > 0).astype(np.float32),
        task="multilabel",
        splits=splits,
        class_names=GENRES,
        description=f"MM-IMDB from {path}",
    )
