"""Queries on a finished or running search: functions of an `optuna.Study`, no training, no tensors."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from automm.core.errors import AutommError
from automm.search.folds import estimate, fully_scored
from automm.store import fold_networks
from automm.store.trial_record import TrialRecord

if TYPE_CHECKING:  # the queries ask a method for its own columns; methods sit below search
    from automm.methods.base import SearchMethod

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def score_of(trial: FrozenTrial) -> float | None:
    """A finished trial's validation score (its first objective), None if it has none."""
    return trial.values[0] if trial.values else None


def n_finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def completed(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def candidates(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials that may be delivered: those scored on every fold (all, if racing left none)."""
    trials = completed(study)
    full = [t for t in trials if fully_scored(t)]
    return full or trials


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The candidate (see `candidates`) with the best mean validation score (fewer parameters, then
    earlier, on ties)."""
    trials = candidates(study)
    if not trials:
        raise AutommError(f"study {study.study_name!r} has no completed trial yet; run a search first")
    return max(trials, key=lambda t: (score_of(t), -(TrialRecord.of(t).n_params or 0), -t.number))


def trial_of(study: optuna.Study, genotype: object) -> FrozenTrial | None:
    """The best completed trial of ``genotype`` (None if it was never evaluated)."""
    matches = [t for t in completed(study) if TrialRecord.of(t).genotype == str(genotype)]
    return max(matches, key=lambda t: (fully_scored(t), score_of(t), -t.number)) if matches else None


def pareto_front_numbers(study: optuna.Study) -> set[int]:
    """Trial numbers on the (score, parameters) Pareto front; empty for a single objective."""
    if len(study.directions) < 2:
        return set()
    return {t.number for t in study.best_trials}


def trials_table(
    study: optuna.Study, top: int | None = None, repeats: bool = False, method: SearchMethod | None = None
) -> list[dict[str, Any]]:
    """Finished trials, best first (raced-out ones after those scored on every fold): number, state,
    value (mean over folds), std over folds, folds scored, genotype, n_params, epochs, seconds,
    generation, the ``method``'s own columns (`SearchMethod.trial_columns`, e.g. KS-NAS's KB version),
    and ``repeats``: how many later trials drew the same candidate and reused this result. Those
    repeats are rows of their own only with ``repeats=True``."""
    trials = [(t, TrialRecord.of(t)) for t in study.get_trials(deepcopy=False, states=FINISHED)]
    repeated = Counter(r.duplicate_of for _, r in trials if not r.trained)
    if not repeats:
        trials = [(t, r) for t, r in trials if r.trained]
    rows = [
        {
            "number": r.number,
            "state": r.state.name,
            "value": r.value,
            "std": estimate(t)[1] if r.complete else None,
            "folds": len(r.fold_scores) if r.complete else 0,
            "raced_out": r.raced_out,
            "genotype": r.genotype,
            "n_params": r.n_params,
            "epochs": r.epochs,
            "seconds": r.seconds,
            "generation": r.generation,
            **(method.trial_columns(t) if method is not None else {}),
            "repeats": repeated.get(r.number, 0),
        }
        for t, r in trials
    ]
    rows.sort(
        key=lambda r: (
            r["state"] != "COMPLETE",
            r["raced_out"],
            -(r["value"] if r["value"] is not None else -np.inf),
        )
    )
    return rows[:top] if top else rows


def top_genotypes(study: optuna.Study, k: int) -> list[str]:
    """The ``k`` best distinct genotype strings by validation score."""
    out: list[str] = []
    for row in trials_table(study):
        if row["state"] == "COMPLETE" and not row["raced_out"] and row["genotype"] not in out:
            out.append(row["genotype"])
        if len(out) == k:
            break
    return out


def generation_report(study: optuna.Study, method: SearchMethod | None = None) -> list[dict[str, Any]]:
    """Per generation: trials, best and mean score, epochs (total, mean), training seconds, and under
    ``extra`` the ``method``'s own cells (`SearchMethod.generation_columns`, e.g. KS-NAS's KB version).

    Empty for a method without generations. KS-NAS's Figure 3 is ``epochs_mean`` over generations.
    """
    groups: dict[int, list[tuple[FrozenTrial, TrialRecord]]] = {}
    for t in completed(study):
        r = TrialRecord.of(t)
        if r.generation is not None:
            groups.setdefault(r.generation, []).append((t, r))
    report = []
    for g in sorted(groups):
        trials = groups[g]
        values = [r.value for _, r in trials if r.value is not None]
        epochs = [r.epochs or 0 for _, r in trials if r.trained]
        report.append(
            {
                "generation": g,
                "trials": len(trials),
                "best": max(values),
                "mean": float(np.mean(values)),
                "epochs": sum(epochs),
                "epochs_mean": float(np.mean(epochs)) if epochs else 0.0,
                "seconds": round(sum(r.seconds or 0.0 for _, r in trials), 3),
                "extra": method.generation_columns([t for t, _ in trials]) if method is not None else {},
            }
        )
    return report


def training_cost(study: optuna.Study, pretraining: tuple[int, float] = (0, 0.0)) -> dict[str, float]:
    """Total epochs and seconds spent training: individuals, ``pretraining`` (epochs, seconds) and the
    finishing of chosen members after the search (`automm.store.fold_networks.finishing_cost`)."""
    records = [TrialRecord.of(t) for t in study.get_trials(deepcopy=False, states=FINISHED)]
    epochs = sum(r.epochs or 0 for r in records if r.trained)
    seconds = sum(r.seconds or 0.0 for r in records)
    pre_epochs, pre_seconds = pretraining
    fin_epochs, fin_seconds = fold_networks.finishing_cost(study)
    return {
        "individual_epochs": epochs,
        "pretrain_epochs": pre_epochs,
        "finishing_epochs": fin_epochs,
        "epochs": epochs + pre_epochs + fin_epochs,
        "individual_seconds": seconds,
        "pretrain_seconds": pre_seconds,
        "finishing_seconds": fin_seconds,
        "seconds": seconds + pre_seconds + fin_seconds,
    }


def best_over_time(study: optuna.Study, since: float | None = None) -> list[tuple[float, float]]:
    """(seconds after ``since``, or after the first trial started, best candidate score so far) at
    each trial that raised the best; the curve a time budget is judged by."""
    done = [t for t in candidates(study) if t.datetime_complete is not None and score_of(t) is not None]
    if not done:
        return []
    starts = [t.datetime_start.timestamp() for t in study.get_trials(deepcopy=False) if t.datetime_start]
    origin = since if since is not None else min(starts)
    curve: list[tuple[float, float]] = []
    for t in sorted(done, key=lambda t: t.datetime_complete):
        value = float(score_of(t))  # type: ignore[arg-type]
        if not curve or value > curve[-1][1]:
            curve.append((t.datetime_complete.timestamp() - origin, value))
    return curve


class StudyQueries:
    """What a study found, as methods of `automm.Study`: queries on ``self.optuna_study`` whose genotypes
    are parsed by ``self.space`` (``self.method`` gives the pretraining cost)."""

    optuna_study: optuna.Study
    space: Any
    method: Any

    @property
    def best_trial(self) -> optuna.trial.FrozenTrial:
        return best_trial(self.optuna_study)

    @property
    def best_value(self) -> float:
        return float(self.best_trial.values[0])

    @property
    def best_genotype(self) -> Any:
        return self.space.parse(TrialRecord.of(self.best_trial).genotype)

    def trials_table(self, top: int | None = None, repeats: bool = False) -> list[dict[str, Any]]:
        """Finished trials, best first; a candidate drawn again is one row (see `trials_table`)."""
        return trials_table(self.optuna_study, top, repeats, self.method)

    def top_genotypes(self, k: int) -> list[Any]:
        return [self.space.parse(g) for g in top_genotypes(self.optuna_study, k)]

    def generation_report(self) -> list[dict[str, Any]]:
        return generation_report(self.optuna_study, self.method)

    def training_cost(self) -> dict[str, float]:
        return training_cost(self.optuna_study, self.method.pretraining_cost(self.optuna_study))

    def pareto_front_numbers(self) -> set[int]:
        return pareto_front_numbers(self.optuna_study)
