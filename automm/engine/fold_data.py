"""The study's folds, and their tensors, made once per study and shared by the objective, the linear
candidate and delivery.

``folds = 0`` chooses K from the data: `AUTO_FOLDS` when the search rows (train + validation)
number at most `AUTO_MAX_ROWS`, else one split; data whose validation rows were given with it
(`MultimodalDataset.fixed_validation`: they may keep groups apart) keeps them as one split. The
test rows are never part of any fold. Each fold's tensors are standardised with statistics of
that fold's training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold

from automm.data.dataset import MultimodalDataset
from automm.engine.training import TensorData, standardized

AUTO_FOLDS = 5
# Up to 10,000 search rows, one 20% validation split has at most 2,000 rows: the standard error
# of an accuracy near 0.9 is then 0.7 points or more, as large as the gaps between the best
# candidates of a search, so the ranking is noise (the yardstick in benchmarks/RESULTS.md shows
# validation above test by up to 3 points with one split on small data). Above it, one split.
AUTO_MAX_ROWS = 10_000


@dataclass(frozen=True)
class Fold:
    """Rows (indices into the data set) that train a candidate and the rows that score it."""

    train: np.ndarray
    val: np.ndarray


def resolve_folds(requested: int, n_rows: int, fixed_validation: bool = False) -> int:
    """K for ``requested`` (0: automatic) on ``n_rows`` search rows."""
    if requested:
        return requested
    return AUTO_FOLDS if n_rows <= AUTO_MAX_ROWS and not fixed_validation else 1


def search_rows(dataset: MultimodalDataset) -> np.ndarray:
    """The rows a search may use: train and validation, sorted (never test)."""
    return np.sort(np.concatenate([dataset.splits.train, dataset.splits.val]))


def make_folds(dataset: MultimodalDataset, k: int, seed: int) -> list[Fold]:
    """The folds: the data set's own train/validation split for ``k = 1``, else K stratified folds
    (plain K folds for multilabel data or classes rarer than K) of the search rows, shuffled by ``seed``."""
    if k <= 1:
        return [Fold(dataset.splits.train, dataset.splits.val)]
    rows = search_rows(dataset)
    labels = dataset.labels[rows]
    stratify = labels.ndim == 1 and np.unique(labels, return_counts=True)[1].min() >= k
    splitter = (
        StratifiedKFold(k, shuffle=True, random_state=seed) if stratify else KFold(k, shuffle=True, random_state=seed)
    )
    return [Fold(rows[tr], rows[va]) for tr, va in splitter.split(rows, labels if stratify else None)]


def study_folds(dataset: MultimodalDataset, requested: int, seed: int) -> list[Fold]:
    """The folds a study with ``folds = requested`` scores its candidates on (see `resolve_folds`)."""
    k = resolve_folds(requested, len(search_rows(dataset)), dataset.fixed_validation)
    return make_folds(dataset, k, seed)


class FoldData:
    """A study's folds (see `study_folds`) and, on first use, each fold's (training, validation)
    tensors on ``device``, standardised on the fold's training rows."""

    def __init__(self, dataset: MultimodalDataset, requested: int, seed: int, device: torch.device) -> None:
        self.dataset, self.device = dataset, device
        self.folds = study_folds(dataset, requested, seed)
        self._tensors: dict[int, tuple[TensorData, TensorData]] = {}

    def __len__(self) -> int:
        return len(self.folds)

    def tensors(self, k: int) -> tuple[TensorData, TensorData]:
        if k not in self._tensors:
            fold = self.folds[k]
            _, (train, val) = standardized(self.dataset, fold.train, [fold.train, fold.val], self.device)
            self._tensors[k] = (train, val)
        return self._tensors[k]
