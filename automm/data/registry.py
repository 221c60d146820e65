"""Named data sets, where each is expected, and the single entry point `load_dataset`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from automm.core.errors import AutommError, option
from automm.core.paths import DATA_DIR_ENV, default_data_dir
from automm.data.avmnist import avmnist_present, load_avmnist, load_avmnist_tokens
from automm.data.cub import MAT_FILE as CUB_FILE
from automm.data.cub import cub_present, load_cub
from automm.data.dataset import MultimodalDataset
from automm.data.digits import load_digits, load_digits_tokens
from automm.data.file_checks import checked_path, shown
from automm.data.handwritten import MAT_FILE as HW_FILE
from automm.data.handwritten import handwritten_present, load_handwritten
from automm.data.matfile import load_mat
from automm.data.mmimdb import EXPECTED as MMIMDB_FILES
from automm.data.mmimdb import load_mmimdb, mmimdb_form, mmimdb_present
from automm.data.npzfile import load_npy_folder, load_npz


@dataclass(frozen=True)
class DatasetInfo:
    """A named data set: how to find it and load it."""

    name: str
    task: str
    description: str
    expected: str  # the files, in words
    embedded: bool
    present: Callable[[Path], bool]
    load: Callable[[Path, int], MultimodalDataset]
    form: Callable[[Path], str] | None = None  # which release is present, in words, where there are several

    def locate(self, data_dir: Path) -> Path | None:
        """The directory holding the files: ``data_dir`` or ``data_dir/<name>``; None if absent."""
        if self.embedded:
            return data_dir
        for candidate in (data_dir, data_dir / self.name):
            if self.present(candidate):
                return candidate
        return None


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "digits",
            "multiclass",
            "scikit-learn 8x8 digits, 5 views (embedded default)",
            "none (ships with scikit-learn)",
            True,
            lambda _d: True,
            lambda _d, seed: load_digits(seed),
        ),
        DatasetInfo(
            "digits-tokens",
            "multiclass",
            "scikit-learn 8x8 digits, top and bottom pixel rows as token views (4 x 8 each; embedded)",
            "none (ships with scikit-learn)",
            True,
            lambda _d: True,
            lambda _d, seed: load_digits_tokens(seed),
        ),
        DatasetInfo(
            "handwritten",
            "multiclass",
            "UCI Multiple Features, 2,000 digits, 6 views",
            f"{HW_FILE} or mfeat-* files",
            False,
            handwritten_present,
            load_handwritten,
        ),
        DatasetInfo(
            "mmimdb",
            "multilabel",
            "MM-IMDB, 25,959 movies, plot + poster, 23 genres (HDF5: word2vec + VGG16; raw: extracted features)",
            f"{MMIMDB_FILES} (http://lisi1.unal.edu.co/mmimdb/)",
            False,
            mmimdb_present,
            load_mmimdb,
            mmimdb_form,
        ),
        DatasetInfo(
            "avmnist",
            "multiclass",
            "AV-MNIST-style: degraded MNIST images + noisy spoken digits (FSDD), 7 multi-level views",
            "mnist/t10k-*-idx*-ubyte.gz and fsdd/recordings/*.wav (built once, then cached)",
            False,
            avmnist_present,
            load_avmnist,
        ),
        DatasetInfo(
            "avmnist-tokens",
            "multiclass",
            "avmnist's rows as token views: image conv-map positions (49 x 32), audio frames (16 x 32)",
            "mnist/t10k-*-idx*-ubyte.gz and fsdd/recordings/*.wav (built once, then cached)",
            False,
            avmnist_present,
            load_avmnist_tokens,
        ),
        DatasetInfo(
            "cub",
            "multiclass",
            "CUB birds subset, 600 images, image + text features",
            CUB_FILE,
            False,
            cub_present,
            load_cub,
        ),
    )
}


def load_dataset(
    name: str | None = None,
    *,
    data: str | Path | None = None,
    data_dir: str | Path | None = None,
    seed: int = 0,
    views: list[str] | tuple[str, ...] | None = None,
) -> MultimodalDataset:
    """Load a named data set (``name``) or the user's own (``data``: `.mat`, `.npz` or a folder of `.npy`).

    ``data_dir`` is where named data sets are looked for (default `default_data_dir`);
    ``seed`` fixes the split where the source has none; ``views`` renames the views, in order.
    """
    dataset = _load(name, data, data_dir, seed)
    return dataset if not views else dataset.with_view_names(views)


def _load(name: str | None, data: str | Path | None, data_dir: str | Path | None, seed: int) -> MultimodalDataset:
    if data is not None:
        path = checked_path(data, folder=Path(data).expanduser().is_dir())
        if path.is_dir():
            return load_npy_folder(path, seed=seed)
        if path.suffix.lower() == ".mat":
            return load_mat(path, seed=seed)
        if path.suffix.lower() == ".npz":
            return load_npz(path, seed=seed)
        raise AutommError(
            f"{shown(path)}: unsupported file type {path.suffix!r}; use a .mat or .npz file or a folder of .npy files"
        )
    name = name or "digits"
    info = DATASETS.get(name.lower())
    if info is None:
        raise AutommError(f"unknown data set {name!r}; known: {', '.join(DATASETS)} (or pass {option('data', 'FILE')})")
    base = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    where = info.locate(base)
    if where is None:
        raise AutommError(
            f"{info.name}: {info.expected} not found in {base} or {base / info.name}; "
            f"pass {option('data_dir')} or set {DATA_DIR_ENV}"
        )
    return info.load(where, seed)
