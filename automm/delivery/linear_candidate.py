"""The linear candidate: logistic regression on the concatenated standardised views, or on one view.

It is the model a user tries first (concatenate every view, fit a logistic regression; or the best view
alone), and on small or nearly linearly separable data it is hard to beat. Every search offers it to
ensemble selection next to the searched networks, so the delivered model starts where that first try ends:

- Its views (`linear_view_sets`: every view concatenated, and with two or more views each view alone)
  and its L2 strength ``C`` (scikit-learn's meaning: the loss is the summed log loss plus
  ``|W|^2 / (2 C)``; the bias is not penalised, ``C`` from `C_GRID`) are chosen by the out-of-fold score
  on the search's own folds (ties: lower log loss, then the earlier view set). Only search rows are used,
  never test rows.
- The out-of-fold probabilities of that choice join the ensemble pool as ``linear(<views>)``.
- Delivered, it is refitted on train+validation and is a `LinearNet` (one ``nn.Linear`` over the
  concatenated views), so export, ONNX and `automm.load_model` treat it like any member.

Fitting is full-batch L-BFGS (the problem is convex), on the study's device: on each fold, along the
regularisation path, each ``C`` from the fit of the next smaller one (the smallest from zero weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from automm.core import keys
from automm.core.errors import AutommError
from automm.core.metrics import log_loss, primary_score, probabilities
from automm.core.progress import step
from automm.engine.fold_data import Fold
from automm.engine.linear_net import LinearGenotype, fit_linear
from automm.engine.training import TensorData, predict_logits
from automm.store import artifacts, optuna_internals

if TYPE_CHECKING:
    from automm.methods.base import SearchContext

C_GRID = (0.01, 0.1, 1.0, 10.0)
CHOOSING = "choosing the linear candidate (logistic regression: its views and C, out of fold)"


@dataclass(frozen=True)
class LinearCandidate:
    """The chosen ``c``, the out-of-fold ``probabilities`` on ``rows`` (sorted), and the scores."""

    genotype: LinearGenotype
    c: float
    rows: np.ndarray
    probabilities: np.ndarray
    fold_scores: list[float]
    scores_by_c: dict[float, float]  # out-of-fold score of every C tried, for the chosen views
    log_loss: float = float("nan")  # out-of-fold log loss of the choice
    scores_by_views: dict[str, float] = field(default_factory=dict)  # best out-of-fold score per view set

    @property
    def score(self) -> float:
        return float(np.mean(self.fold_scores))


def choose_linear(
    folds: Sequence[tuple[Fold, TensorData, TensorData]],
    views: Sequence[str],
    task: str,
    n_outputs: int,
    threshold: float = 0.5,
    grid: Sequence[float] = C_GRID,
) -> LinearCandidate:
    """The linear candidate with ``C`` chosen by out-of-fold score over ``folds``
    ((fold, its training tensors, its validation tensors); see module docstring)."""
    if not folds:
        raise AutommError("the linear candidate needs at least one fold")
    rows = np.concatenate([fold.val for fold, _, _ in folds])
    order = np.argsort(rows)
    labels = np.concatenate([val.labels.cpu().numpy() for _, _, val in folds])[order]
    best: tuple[tuple[float, float], float, np.ndarray, list[float]] | None = None
    scores_by_c: dict[float, float] = {}
    fitted: dict[float, list[np.ndarray]] = {}  # C -> each fold's validation logits
    for _, train, val in folds:  # along the regularisation path: each C starts from the smaller C's fit
        previous = None
        for c in sorted(grid):
            previous = fit_linear(train, views, task, n_outputs, c, start=previous)
            fitted.setdefault(c, []).append(predict_logits(previous, val))
    for c in grid:
        probs, fold_scores = [], []
        for logits, (_, _, val) in zip(fitted[c], folds, strict=True):
            fold_scores.append(primary_score(logits, val.labels.cpu().numpy(), task, threshold))
            probs.append(probabilities(logits, task))
        oof = np.concatenate(probs)[order]
        score = float(np.mean(fold_scores))
        scores_by_c[float(c)] = score
        key = (score, -log_loss(oof, labels, task))
        if best is None or key > best[0]:
            best = (key, float(c), oof, fold_scores)
    assert best is not None
    (_, minus_loss), c, oof, fold_scores = best
    return LinearCandidate(LinearGenotype(tuple(views)), c, rows[order], oof, fold_scores, scores_by_c, -minus_loss)


def linear_view_sets(views: Sequence[str]) -> list[tuple[str, ...]]:
    """The view sets the linear candidate may read: every view concatenated, then (with two or more
    views) each view alone, the way a user tries the best single view."""
    every = tuple(views)
    return [every] if len(every) < 2 else [every, *((v,) for v in every)]


def choose_linear_views(
    folds: Sequence[tuple[Fold, TensorData, TensorData]],
    views: Sequence[str],
    task: str,
    n_outputs: int,
    threshold: float = 0.5,
    grid: Sequence[float] = C_GRID,
) -> LinearCandidate:
    """The linear candidate over the view set of `linear_view_sets` and the ``C`` with the best
    out-of-fold score (ties: lower log loss, then the earlier set, so all views before one)."""
    best: tuple[tuple[float, float], LinearCandidate] | None = None
    scores: dict[str, float] = {}
    sets = linear_view_sets(views)
    for i, subset in enumerate(sets):
        step(CHOOSING, i, len(sets), "view sets")
        candidate = choose_linear(folds, subset, task, n_outputs, threshold, grid)
        scores[",".join(subset)] = candidate.score
        key = (candidate.score, -candidate.log_loss)
        if best is None or key > best[0]:
            best = (key, candidate)
    step(CHOOSING, len(sets), len(sets), "view sets")
    assert best is not None
    return replace(best[1], scores_by_views=scores)


def study_linear_candidate(context: SearchContext) -> LinearCandidate:
    """The linear candidate of a study over its views (`choose_linear_views`), on its folds: read back
    from the study (system attribute `keys.LINEAR`, predictions in its artifact store) or chosen and kept
    there. A record of automm 0.x before the view choice (``views`` only) reads back as it was chosen."""
    study, store, dataset = context.optuna_study, context.artifact_store, context.dataset
    views = tuple(dataset.view_names)
    kept = optuna_internals.study_system_attrs(study).get(keys.LINEAR) if store is not None else None
    if kept is not None and tuple(kept.get("offered_views", kept.get("views", ()))) == views:
        state = artifacts.get_weights(store, kept["predictions"], "the linear candidate")
        return LinearCandidate(
            LinearGenotype(tuple(kept["views"])),
            float(kept["c"]),
            state["rows"].numpy(),
            state["probabilities"].double().numpy(),
            [float(s) for s in kept["fold_scores"]],
            {float(c): float(v) for c, v in kept["scores_by_c"]},
            scores_by_views={str(k): float(v) for k, v in kept.get("scores_by_views", [])},
        )
    folds = [(fold, *context.folds.tensors(k)) for k, fold in enumerate(context.folds.folds)]
    candidate = choose_linear_views(folds, views, dataset.task, dataset.n_classes, context.config.threshold)
    if store is None:
        return candidate
    state = {
        "rows": torch.from_numpy(candidate.rows.astype(np.int64)),
        "probabilities": torch.from_numpy(candidate.probabilities.astype(np.float32)),
    }
    record = {
        "views": list(candidate.genotype.views),
        "offered_views": list(views),
        "scores_by_views": [[k, v] for k, v in candidate.scores_by_views.items()],
        "c": candidate.c,
        "fold_scores": candidate.fold_scores,
        "scores_by_c": [[c, v] for c, v in candidate.scores_by_c.items()],
        "predictions": artifacts.put_weights(store, state, "linear"),
    }
    optuna_internals.set_study_system_attr(study, keys.LINEAR, record)
    return candidate
