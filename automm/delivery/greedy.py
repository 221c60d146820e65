"""Greedy ensemble selection with replacement (Caruana et al., ICML 2004) over candidates' probabilities.

Starting from nothing, each round adds the candidate (again, if it is already in) whose addition gives
the best score of the averaged probabilities, ties broken by the lower log loss; member weights are
the counts over the rounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from automm.core.errors import AutommError
from automm.core.metrics import scores_and_losses, stack_candidates

CHUNK = 4_000_000  # candidates x rows x outputs scored at once (32 MB of float64 a copy)


def stacked_chunks(probs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``probs`` (each rows x outputs) in `stack_candidates` arrays of at most `CHUNK` numbers (one
    candidate at least), in order."""
    step = max(1, CHUNK // max(1, probs[0].size))
    return [stack_candidates(probs[start : start + step]) for start in range(0, len(probs), step)]


def greedy_selection(
    probs: list[np.ndarray], labels: np.ndarray, task: str, rounds: int, threshold: float = 0.5
) -> list[int]:
    """How often each candidate is picked in up to ``rounds`` greedy rounds with replacement (see module
    docstring) on ``labels``' rows; the counts after the best-scoring round are returned (Caruana's rule),
    so the ensemble never scores below the best single candidate on these rows."""
    if not probs:
        raise AutommError("no candidate has out-of-fold predictions to build an ensemble from")
    counts = [0] * len(probs)
    chunks = stacked_chunks(probs)
    total = stack_candidates([np.zeros_like(probs[0], dtype=np.float64)])  # 1 x rows x outputs, alike in memory
    best: tuple[tuple[float, float], list[int]] | None = None
    for r in range(rounds):
        keys = [scores_and_losses((total + chunk) / (r + 1), labels, task, threshold) for chunk in chunks]
        scores, losses = np.concatenate([s for s, _ in keys]), np.concatenate([loss for _, loss in keys])
        tied = np.flatnonzero(scores == scores.max())  # the best score, then the lowest loss, then the first
        pick = int(tied[np.argmin(losses[tied])])
        round_key = (float(scores[pick]), -float(losses[pick]))
        counts[pick] += 1
        total[0] += probs[pick]
        if best is None or round_key > best[0]:
            best = (round_key, list(counts))
    assert best is not None
    return best[1]
