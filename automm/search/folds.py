"""How a candidate is scored: k-fold cross-validation over the non-test rows, raced.

One validation split ranks many candidates noisily on small data, and a search then picks
the luckiest. With ``folds = K > 1`` every candidate is trained K times, each time scored on
rows it never saw, and its fitness is the mean over folds. Racing (successive halving over
folds) keeps the cost down: after the folds of each *rung* a candidate goes on only if its
running mean is in the top ``1/ETA`` of every earlier candidate's running mean at that rung;
a candidate raced out keeps its partial mean and is never the delivered model.

``folds = 0`` chooses K from the data: `AUTO_FOLDS` when the search rows (train + validation)
number at most `AUTO_MAX_ROWS`, else one split; data whose validation rows were given with it
(`MultimodalDataset.fixed_validation`: they may keep groups apart) keeps them as one split. The
test rows are never part of any fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import optuna
from sklearn.model_selection import KFold, StratifiedKFold

from automm.data.dataset import MultimodalDataset
from automm.store.trial_record import TrialRecord

AUTO_FOLDS = 5
# Up to 10,000 search rows, one 20% validation split has at most 2,000 rows: the standard error
# of an accuracy near 0.9 is then 0.7 points or more, as large as the gaps between the best
# candidates of a search, so the ranking is noise (the yardstick in benchmarks/RESULTS.md shows
# validation above test by up to 3 points with one split on small data). Above it, one split.
AUTO_MAX_ROWS = 10_000
ETA = 2  # racing keeps the top 1/ETA at each rung
MIN_RUNG_PEERS = 4  # below this many earlier candidates at a rung, everyone goes on


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


def rungs(k: int) -> list[int]:
    """Fold counts after which racing decides: 1, 3, 7, ... below ``k``."""
    out, n = [], 1
    while n < k:
        out.append(n)
        n = 2 * n + 1
    return out


def fold_scores(trial: optuna.trial.FrozenTrial) -> list[float]:
    """A trial's per-fold scores (one-split trials of older studies: their value)."""
    return TrialRecord.of(trial).fold_scores


def fully_scored(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` was scored on every fold (not raced out)."""
    return TrialRecord.of(trial).fully_scored


def goes_on(study: optuna.Study, trial_number: int, scores: list[float]) -> bool:
    """Whether a candidate with ``scores`` (after a rung) is in the top 1/ETA of earlier candidates there."""
    n = len(scores)
    mine = float(np.mean(scores))
    peers = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        theirs = TrialRecord.of(t)
        if t.number != trial_number and len(theirs.fold_scores) >= n and theirs.trained:
            peers.append(float(np.mean(theirs.fold_scores[:n])))
    if len(peers) < MIN_RUNG_PEERS:
        return True
    keep = max(1, math.ceil((len(peers) + 1) / ETA))
    return sum(p > mine for p in peers) < keep


def estimate(trial: optuna.trial.FrozenTrial) -> tuple[float, float, int]:
    """(mean, standard deviation over folds, folds) of a trial's score."""
    scores = fold_scores(trial)
    if not scores:
        return float("nan"), float("nan"), 0
    return float(np.mean(scores)), float(np.std(scores)) if len(scores) > 1 else 0.0, len(scores)


def scratch_best_epochs(trial: optuna.trial.FrozenTrial, warm_first_fold: bool) -> list[int]:
    """The best epochs of ``trial``'s folds trained from scratch (fold 0 is not when it was warm-started)."""
    epochs = TrialRecord.of(trial).fold_best_epochs
    return epochs[1:] if warm_first_fold else epochs
