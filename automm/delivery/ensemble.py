"""Greedy ensemble selection with replacement (Caruana et al., ICML 2004) over out-of-fold predictions.

Every candidate scored on all folds keeps its out-of-fold probabilities (`automm.search.objective`):
one prediction per search row, each from a network that did not train on that row (with one
split: the validation rows). Starting from nothing, each round adds the candidate (again, if it
is already in) whose addition gives the best score of the averaged probabilities, ties broken by
the lower log loss; member weights are the counts over the rounds. The choice uses search rows
only, never test rows. Candidates that are not trials (the linear candidate, `automm.delivery.linear_candidate`)
join the pool with their own out-of-fold predictions on the same rows.

The out-of-fold score of a choice made on those same rows is optimistic after many trials. The choice
is therefore checked on rows it did not choose on (`automm.delivery.nested_check`). When the first
extra candidate (the linear one) alone scores above the nested score of the greedy choice, that
candidate alone is delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import optuna

from automm.core import keys
from automm.core.metrics import logits_from_probabilities, primary_score
from automm.delivery.greedy import greedy_selection
from automm.delivery.nested_check import candidates_to_load, nested_scores
from automm.search import queries
from automm.store import artifacts, fold_networks
from automm.store.trial_record import POOL_SIZE, TrialRecord, delivery_pool

POOL = POOL_SIZE  # the best candidates (by mean fold score) the greedy rounds may pick from


@dataclass(frozen=True)
class EnsembleChoice:
    """Members (genotype strings, their trial numbers: None for a candidate that is not a trial),
    weights summing to 1, and out-of-fold scores."""

    genotypes: list[str]
    trials: list[int | None]
    weights: list[float]
    score: float  # out-of-fold score of the ensemble
    best_single: float  # out-of-fold score of the best single candidate
    rows: int  # rows the scores are on
    rounds: int = 0  # the greedy rounds it was chosen with (0: unknown, a choice of an older automm)
    trials_seen: int = 0  # finished trials of the study when it was chosen
    nested_score: float | None = None  # the greedy choice scored on rows it did not choose on (None: not checked)
    fallback_score: float | None = None  # the first extra candidate alone, on the same rows
    fallback_chosen: bool = False  # delivered: that candidate alone, because it scored above the greedy choice
    # trials of the pool scored by their finished fold networks (`automm.delivery.finishing`), not their search's
    finished: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def stored(cls, study: optuna.Study, rounds: int) -> EnsembleChoice | None:
        """The choice stored in ``study``, if it was made with ``rounds`` rounds over the trials the
        study has now (so choosing again would give the same members); else None."""
        saved = study.user_attrs.get(keys.ENSEMBLE)
        if not isinstance(saved, dict) or saved.get("rounds") != rounds:
            return None
        if saved.get("trials_seen") != queries.n_finished(study):
            return None
        return cls(**{f: saved[f] for f in cls.__dataclass_fields__ if f in saved})


def differs_from_best(choice: dict[str, Any] | None, best_genotype: str) -> bool:
    """Whether a stored choice delivers something other than the best trial alone (several members,
    or one candidate that is not the best trial, such as the linear one)."""
    return bool(choice) and (len(choice["genotypes"]) > 1 or choice["genotypes"][0] != best_genotype)


def trial_predictions(
    store: Any, trial: optuna.trial.FrozenTrial, finished: dict[int, dict[str, Any]] | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, probabilities) a trial kept, verified; None if it kept none. Those of its finished fold
    networks where ``finished`` (`automm.store.fold_networks.finished`) holds the trial."""
    record = (finished or {}).get(trial.number)
    pointer = trial.system_attrs.get(keys.PREDICTIONS) if record is None else record["predictions"]
    if pointer is None:
        return None
    what = f"predictions of trial {trial.number}" if record is None else f"finished predictions of trial {trial.number}"
    state = artifacts.get_weights(store, pointer, what)
    return state["rows"].numpy(), state["probabilities"].float().numpy()


def choose_ensemble(
    study: optuna.Study,
    store: Any,
    labels: np.ndarray,
    task: str,
    rounds: int,
    threshold: float = 0.5,
    extra: Sequence[tuple[str, np.ndarray, np.ndarray]] = (),
    check: bool = True,
) -> EnsembleChoice:
    """The greedy ensemble of ``rounds`` rounds over the `POOL` best trials with predictions and the
    ``extra`` candidates ((genotype string, rows, out-of-fold probabilities); always in the pool).
    With ``check`` and an extra candidate, the choice is checked on rows it did not choose on (see
    module docstring) and that candidate alone is delivered when it scores above it there.

    ``labels``: the data set's labels (indexed by the stored rows). Falls back to the single best
    candidate when no trial kept predictions (studies of an older automm).
    """
    seen_now = queries.n_finished(study)
    trials = study.get_trials(deepcopy=False)
    pool_trials = delivery_pool(trials, POOL)
    finished = fold_networks.finished(study)
    pool = _with_predictions(store, pool_trials, finished)
    if not pool:
        best = queries.best_trial(study)
        value = float(queries.score_of(best) or float("nan"))
        genotype = str(TrialRecord.of(best).genotype)
        return EnsembleChoice([genotype], [best.number], [1.0], value, value, 0, rounds, seen_now)
    rows = pool[0][1]
    entries: list[tuple[str, int | None, np.ndarray, np.ndarray]] = [
        (str(TrialRecord.of(t).genotype), t.number, r, p) for t, r, p in pool
    ] + [(name, None, r, p) for name, r, p in extra]
    entries = [e for e in entries if np.array_equal(e[2], rows)]  # a resumed study with other folds: same rows only
    names = [e[0] for e in entries]
    numbers = [e[1] for e in entries]
    probs = [e[3] for e in entries]
    y = labels[rows]
    counts = greedy_selection(probs, y, task, max(1, rounds), threshold)
    singles = [primary_score(logits_from_probabilities(p, task), y, task, threshold) for p in probs]
    total = sum(counts)
    mixed = sum(c * p for c, p in zip(counts, probs, strict=True)) / total
    chosen = [i for i, c in enumerate(counts) if c]
    chosen.sort(key=lambda i: -counts[i])
    choice = EnsembleChoice(
        genotypes=[names[i] for i in chosen],
        trials=[numbers[i] for i in chosen],
        weights=[counts[i] / total for i in chosen],
        score=primary_score(logits_from_probabilities(mixed, task), y, task, threshold),
        best_single=max(singles),
        rows=len(rows),
        rounds=rounds,
        trials_seen=seen_now,
        finished=sorted(t.number for t, _, _ in pool if t.number in finished),
    )
    fallback = next((i for i, n in enumerate(numbers) if n is None), None)
    if not check or fallback is None:
        return choice
    loaded = candidates_to_load(len(rows), probs[0].shape[1] if probs[0].ndim > 1 else 1, POOL)
    beyond_pool = delivery_pool(trials, loaded)[len(pool_trials) :]  # the same order: the pool is its head
    every = [p for _, r, p in pool + _with_predictions(store, beyond_pool, finished) if np.array_equal(r, rows)]
    nested = nested_scores([*every, probs[fallback]], len(every), y, task, max(1, rounds), POOL, threshold)
    if nested is None:
        return choice
    checked = replace(choice, nested_score=nested.ensemble, fallback_score=nested.alone)
    if nested.alone <= nested.ensemble:
        return checked
    return replace(
        checked,
        genotypes=[names[fallback]],
        trials=[None],
        weights=[1.0],
        score=singles[fallback],
        fallback_chosen=True,
    )


def _with_predictions(
    store: Any, trials: list[optuna.trial.FrozenTrial], finished: dict[int, dict[str, Any]]
) -> list[tuple[optuna.trial.FrozenTrial, np.ndarray, np.ndarray]]:
    """(trial, rows, probabilities) of each of ``trials`` that kept predictions (finished ones: see
    `trial_predictions`)."""
    kept = [(t, trial_predictions(store, t, finished)) for t in trials]
    return [(t, *k) for t, k in kept if k is not None]
