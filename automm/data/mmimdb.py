"""`mmimdb`: MM-IMDB (25,959 movies, poster + plot, 23 genres, multi-label), from either release.

(a) ``multimodal_imdb.hdf5`` holds ``features`` (N x 300 mean word2vec of the plot), ``vgg_features``
(N x 4096 VGG16 fc7 of the poster), ``genres`` (N x 23 0/1), ``imdb_ids`` and raw ``images`` that
are never read here (only the datasets named below are touched, so loading needs ~0.5 GB).
The split comes from the file's Fuel-style ``split`` attribute when present, else from the
canonical row ranges train [0, 15552), dev [15552, 18160), test [18160, 25959).

(b) The raw release ``split.json`` + ``dataset/<imdb id>.json`` + ``dataset/<imdb id>.jpeg``:
``split.json`` lists the ids of ``train``, ``dev`` and ``test``; each movie's JSON has its
``genres`` and ``plot`` (a list of strings, joined). Posters and plots are turned into
multi-level features by `automm.extract` (EfficientNet-Lite0 and MiniLM by default, the
``extract`` extra) once, then read from the feature cache.

When both are present the HDF5 file is used. Download: http://lisi1.unal.edu.co/mmimdb/
(``multimodal_imdb.hdf5``, about 8 GB, or ``mmimdb.tar.gz``, the raw folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from automm.core.errors import AutommError
from automm.data.dataset import MultimodalDataset, Splits
from automm.data.features import to_dataset
from automm.extract.manifest import SPLIT_NAMES, Manifest
from automm.extract.pipeline import ConsoleProgress, Progress, extract_views
from automm.extract.requirements import extra_installed

HDF5_FILE = "multimodal_imdb.hdf5"
RAW_SPLIT = "split.json"
RAW_DIR = "dataset"
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
DOWNLOAD = "download multimodal_imdb.hdf5 or mmimdb.tar.gz from http://lisi1.unal.edu.co/mmimdb/"
EXPECTED = f"{HDF5_FILE}, or {RAW_SPLIT} + {RAW_DIR}/<id>.json + <id>.jpeg"


def raw_present(data_dir: Path) -> bool:
    return (data_dir / RAW_SPLIT).is_file() and (data_dir / RAW_DIR).is_dir()


def mmimdb_present(data_dir: Path) -> bool:
    return (data_dir / HDF5_FILE).is_file() or raw_present(data_dir)


def mmimdb_form(data_dir: Path) -> str:
    """Which release `load_mmimdb` will read from ``data_dir``, and what it needs, in words."""
    if (data_dir / HDF5_FILE).is_file():
        return "HDF5 release"
    if extra_installed():
        return "raw release; features extracted on first use, then cached"
    return "raw release: needs pip install 'automm[extract]'"


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


def load_mmimdb(data_dir: str | Path, seed: int = 0, **extract_options: Any) -> MultimodalDataset:
    """Load MM-IMDB from ``data_dir``: the HDF5 release if present, else the raw folder.

    ``extract_options`` (raw folder only) go to `load_mmimdb_raw`.
    """
    folder = Path(data_dir).expanduser()
    if (folder / HDF5_FILE).is_file():
        return load_mmimdb_hdf5(folder)
    if raw_present(folder):
        return load_mmimdb_raw(folder, **extract_options)
    raise AutommError(f"mmimdb: expected {EXPECTED} in {folder}; {DOWNLOAD}")


def read_raw_manifest(data_dir: str | Path) -> Manifest:
    """The raw release as a manifest: poster paths, joined plots, 23-genre labels, the file's split."""
    folder = Path(data_dir).expanduser()
    split_path = folder / RAW_SPLIT
    try:
        split = json.loads(split_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AutommError(f"{split_path}: not a readable JSON file ({exc})") from exc
    parts = {SPLIT_NAMES.get(k): v for k, v in split.items()} if isinstance(split, dict) else {}
    if not all(isinstance(parts.get(p), list) for p in ("train", "val", "test")):
        raise AutommError(f"{split_path}: expected lists of ids under 'train', 'dev' and 'test'")
    ids: list[str] = []
    rows: list[str] = []
    for part in ("train", "val", "test"):
        ids += [str(i) for i in parts[part]]
        rows += [part] * len(parts[part])
    if len(set(ids)) != len(ids):
        raise AutommError(f"{split_path}: an id appears more than once")
    position = {g: i for i, g in enumerate(GENRES)}
    labels = np.zeros((len(ids), len(GENRES)), dtype=np.float32)
    plots: list[str] = []
    posters: list[Path] = []
    for row, movie in enumerate(ids):
        meta_path = folder / RAW_DIR / f"{movie}.json"
        poster = folder / RAW_DIR / f"{movie}.jpeg"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AutommError(f"{meta_path}: missing or not JSON ({exc})") from exc
        if not isinstance(meta.get("genres"), list) or not isinstance(meta.get("plot"), list):
            raise AutommError(f"{meta_path}: needs 'genres' and 'plot' lists")
        if not poster.is_file():
            raise AutommError(f"{poster}: poster not found")
        labels[row, [position[g] for g in meta["genres"] if g in position]] = 1.0
        plots.append(" ".join(str(p) for p in meta["plot"]))
        posters.append(poster)
    return Manifest("mmimdb", ids, {"poster": posters}, {"plot": plots}, labels, list(GENRES), rows)


def load_mmimdb_raw(
    data_dir: str | Path,
    *,
    image_backbones: tuple[str, ...] = ("efficientnet_lite0",),
    text_backbones: tuple[str, ...] = ("minilm",),
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> MultimodalDataset:
    """The raw release with features from pretrained backbones (extracted once, then cached)."""
    from automm.extract.backbones import load_backbone

    manifest = read_raw_manifest(data_dir)
    backbones = [load_backbone(name) for name in (*image_backbones, *text_backbones)]
    if progress is None:
        with ConsoleProgress() as bars:
            views = extract_views(manifest, backbones, cache_dir=cache_dir, progress=bars)
    else:
        views = extract_views(manifest, backbones, cache_dir=cache_dir, progress=progress)
    names = " + ".join(b.name for b in backbones)
    return to_dataset(manifest, views, description=f"MM-IMDB raw release in {data_dir}, features from {names}")


def load_mmimdb_hdf5(folder: Path) -> MultimodalDataset:
    """The HDF5 release in ``folder`` (text and VGG views, 23 genres, the file's split)."""
    import h5py

    path = folder / HDF5_FILE
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
