"""The shared data sets by the names the benchmarks use (``../shared/data``, or ``--data-dir``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# the sparse text sets have no preset: a benchmark loads them as a user's own file would be
TEXT_SETS = {
    "bbcsport": "BBCSport.mat",
    "3sources": "3-sources.mat",
    "webkb": "webkb.mat",
    "20news": "20newsgroups.mat",
}


def load_shared(name: str, data_dir: str | Path, seed: int = 0) -> Any:
    """Data set ``name``: a preset's (digits, handwritten, cub, avmnist) or a text set's file."""
    import automm

    if name in TEXT_SETS:
        return automm.load_dataset(data=Path(data_dir) / TEXT_SETS[name], seed=seed)
    return automm.load_dataset(name, data_dir=data_dir, seed=seed)
