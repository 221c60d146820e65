"""The ensemble choice scored on rows it did not choose on: a check against selection optimism.

Ensemble selection (`automm.delivery.ensemble`) draws from the best of many candidates by their
out-of-fold score, on the same rows it is then quoted on. After hundreds of trials that score is
optimistic (the winner's curse: the best of many noisy scores is high partly by luck), and a simple
candidate that scores a little lower there (the linear one) can be better on new rows.

`nested_scores` repeats the whole choice, the pool of the best candidates and then the greedy rounds,
on the rows of K - 1 parts of the search rows and scores it on the part left out (stratified K-fold,
``repeats`` times with other shuffles): an estimate of the choice's score on new rows. The fallback
candidate alone is scored on the same rows. Its own choice (the linear candidate's views and C: a
dozen settings, not hundreds of trials) is not nested. Only search rows are used, never test rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from automm.core.metrics import logits_from_probabilities, primary_score, scores_and_losses
from automm.delivery.greedy import greedy_selection, stacked_chunks

SPLITS = 5  # parts of the search rows; fewer when a class has fewer rows
REPEATS = 3  # shuffles of the parts, averaged
MAX_PROBABILITIES = 20_000_000  # candidates x rows x outputs the check loads at most (80 MB of float32)


@dataclass(frozen=True)
class NestedScores:
    """Scores on rows the choice did not see: the greedy ensemble's (``ensemble``) and the fallback
    candidate's alone (``alone``, on the same rows), over ``splits`` parts and ``repeats`` shuffles."""

    ensemble: float
    alone: float
    splits: int
    repeats: int


def candidates_to_load(rows: int, outputs: int, pool_size: int) -> int:
    """How many candidates the check loads: all that fit in `MAX_PROBABILITIES`, at least the pool."""
    return max(pool_size, MAX_PROBABILITIES // max(1, rows * outputs))


def nested_scores(
    probs: Sequence[np.ndarray],
    fallback: int,
    labels: np.ndarray,
    task: str,
    rounds: int,
    pool_size: int,
    threshold: float = 0.5,
    seed: int = 0,
    repeats: int = REPEATS,
) -> NestedScores | None:
    """Nested scores of the greedy choice over ``probs`` (every candidate's out-of-fold probabilities
    on the same rows; ``probs[fallback]`` always joins the pool, as the linear candidate does) and of
    ``probs[fallback]`` alone. Per part left out: the ``pool_size`` best other candidates by their
    score on the other parts, then ``rounds`` greedy rounds there. None when the rows are too few to
    split (a class with fewer than two rows)."""
    splitter = _splitter(labels, task, seed)
    if splitter is None:
        return None
    n_splits, make = splitter
    others = [i for i in range(len(probs)) if i != fallback]
    ensemble_scores = []
    for r in range(repeats):
        mixed = np.zeros_like(probs[fallback], dtype=np.float64)
        for inner, outer in make(r).split(np.zeros(len(labels)), labels if labels.ndim == 1 else None):
            chosen_on = [p[inner] for p in probs]  # the rows the choice is made on
            ranked = [others[j] for j in _best_first([chosen_on[i] for i in others], labels[inner], task, threshold)]
            pool = [*ranked[:pool_size], fallback]
            counts = greedy_selection([chosen_on[i] for i in pool], labels[inner], task, rounds, threshold)
            total = sum(counts)
            mixed[outer] = sum(c * probs[i][outer] for c, i in zip(counts, pool, strict=True)) / total
        ensemble_scores.append(primary_score(logits_from_probabilities(mixed, task), labels, task, threshold))
    alone = primary_score(logits_from_probabilities(probs[fallback], task), labels, task, threshold)
    return NestedScores(float(np.mean(ensemble_scores)), float(alone), n_splits, repeats)


def _best_first(probs: list[np.ndarray], labels: np.ndarray, task: str, threshold: float) -> list[int]:
    """Positions of ``probs`` by their primary score on ``labels``, best first, equal scores in order."""
    if not probs:
        return []
    scores = np.concatenate([scores_and_losses(c, labels, task, threshold)[0] for c in stacked_chunks(probs)])
    return [int(i) for i in np.argsort(-scores, kind="stable")]


def _splitter(labels: np.ndarray, task: str, seed: int) -> tuple[int, Callable[[int], Any]] | None:
    """(parts, repeat -> splitter): stratified by class for one label per row, plain K-fold for label sets."""
    if task == "multiclass":
        present = np.bincount(labels.astype(np.int64))
        smallest = int(present[present > 0].min()) if present.any() else 0
        n_splits = min(SPLITS, smallest)
        if n_splits < 2:
            return None
        return n_splits, lambda r: StratifiedKFold(n_splits, shuffle=True, random_state=seed + r)
    n_splits = min(SPLITS, len(labels))
    if n_splits < 2:
        return None
    return n_splits, lambda r: KFold(n_splits, shuffle=True, random_state=seed + r)
