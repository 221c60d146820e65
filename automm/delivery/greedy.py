"""Greedy ensemble selection with replacement (Caruana et al., ICML 2004) over candidates' probabilities.

Starting from nothing, each round adds the candidate (again, if it is already in) whose addition gives
the best score of the averaged probabilities, ties broken by the lower log loss; member weights are
the counts over the rounds.
"""

from __future__ import annotations

import numpy as np

from automm.core.errors import AutommError
from automm.core.metrics import log_loss, logits_from_probabilities, primary_score


def greedy_selection(
    probs: list[np.ndarray], labels: np.ndarray, task: str, rounds: int, threshold: float = 0.5
) -> list[int]:
    """How often each candidate is picked in up to ``rounds`` greedy rounds with replacement (see module
    docstring) on ``labels``' rows; the counts after the best-scoring round are returned (Caruana's rule),
    so the ensemble never scores below the best single candidate on these rows."""
    if not probs:
        raise AutommError("no candidate has out-of-fold predictions to build an ensemble from")
    counts = [0] * len(probs)
    total = np.zeros_like(probs[0], dtype=np.float64)
    best: tuple[tuple[float, float], list[int]] | None = None
    for r in range(rounds):
        round_key, pick = None, 0
        for i, p in enumerate(probs):
            mixed = (total + p) / (r + 1)
            key = (
                primary_score(logits_from_probabilities(mixed, task), labels, task, threshold),
                -log_loss(mixed, labels, task),
            )
            if round_key is None or key > round_key:
                round_key, pick = key, i
        counts[pick] += 1
        total += probs[pick]
        assert round_key is not None
        if best is None or round_key > best[0]:
            best = (round_key, list(counts))
    assert best is not None
    return best[1]
