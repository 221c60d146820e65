"""A candidate's trained fold networks, kept in the artifact store so that delivery reuses them.

With K-fold selection a candidate is scored by K networks, each trained on its fold's training rows
and early-stopped on the fold's validation rows; delivered as a fold bag, it is those K networks
again. So the objective keeps them (`keep`): one safetensors artifact per trial, the K state dicts
under ``fold<k>.<name>``, at rest in float16, pointer in the trial's system attributes
(``automm:fold_networks``). Delivery reads them back (`kept`) instead of training the bag again.

The store stays bounded: only the best ``limit`` candidates scored on every fold keep their networks.
Whenever a trial keeps its networks, the kept networks of trials that fell out of the best ``limit``
are marked in the study (``automm:fold_networks_pruned:<trial>``, one transaction) and deleted; a trial can only fall
out of the best, never come back, so a deleted bag is never needed. A member without kept networks
is trained again, as before. Weights are read back through their sha256, never unpickled.
"""

from __future__ import annotations

from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from automm.core import keys
from automm.store.artifacts import State, get_weights, put_weights, remove_artifact, study_lock
from automm.store.optuna_internals import (
    set_attrs_together,
    set_study_system_attrs_together,
    study_system_attrs_starting,
)
from automm.store.trial_record import TrialRecord

__all__ = ["keep", "kept", "kept_trials"]

STORED_DTYPE = torch.float16  # at rest; read back as float32


def keep(
    trial: optuna.Trial,
    store: Any,
    states: list[State],
    score: float,
    limit: int,
    lock_dir: Any = None,
) -> bool:
    """Keep ``states`` (the trial's fold networks, fold order) if the trial, scored ``score``, is among the
    best ``limit`` candidates scored on every fold; then delete the kept networks of those that fell out.
    Return whether they were kept. ``lock_dir``: the study lock, so parallel workers prune one at a time."""
    if limit < 1 or store is None:
        return False
    study = trial.study
    with study_lock(lock_dir):
        holders = kept_trials(study)
        better = sum(1 for t in holders if _score(t) >= score)
        if better >= limit:
            return False
        merged = {
            f"fold{k}.{name}": (t.to(STORED_DTYPE) if t.is_floating_point() else t)
            for k, state in enumerate(states)
            for name, t in state.items()
        }
        pointer = {**put_weights(store, merged, "folds"), "folds": len(states)}
        set_attrs_together(trial, system={keys.FOLD_NETWORKS: pointer})  # read once the trial is complete
        ranked = sorted(holders, key=lambda t: (-_score(t), t.number))
        fallen = ranked[limit - 1 :]  # this trial takes one of the ``limit`` places
        if fallen:  # marked first, in one transaction: a crash in between leaves files, never a dangling pointer
            set_study_system_attrs_together(study, {f"{keys.FOLD_NETWORKS_PRUNED}{t.number}": True for t in fallen})
        for t in fallen:
            remove_artifact(store, t.system_attrs[keys.FOLD_NETWORKS]["artifact_id"])
    return True


def kept_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Completed trials whose fold networks are still kept."""
    pruned = set(study_system_attrs_starting(study, keys.FOLD_NETWORKS_PRUNED))
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if keys.FOLD_NETWORKS in t.system_attrs and f"{keys.FOLD_NETWORKS_PRUNED}{t.number}" not in pruned
    ]


def kept(study: optuna.Study, store: Any, trial: FrozenTrial, folds: int) -> list[State] | None:
    """``trial``'s ``folds`` fold networks (float32), or None when it kept none, they were pruned, or it
    kept another number of folds. A trial that repeated an earlier one reads that one's networks."""
    if store is None:
        return None
    duplicate = TrialRecord.of(trial).duplicate_of
    if duplicate is not None:
        trial = study.get_trials(deepcopy=False)[duplicate]
    pointer = trial.system_attrs.get(keys.FOLD_NETWORKS)
    if pointer is None or int(pointer.get("folds", 0)) != folds:
        return None
    marker = f"{keys.FOLD_NETWORKS_PRUNED}{trial.number}"
    if marker in study_system_attrs_starting(study, marker):
        return None
    merged = get_weights(store, pointer, f"fold networks of trial {trial.number}")
    states: list[State] = [{} for _ in range(folds)]
    for name, t in merged.items():
        fold, _, inner = name.partition(".")
        states[int(fold.removeprefix("fold"))][inner] = t.float() if t.is_floating_point() else t
    return states


def _score(trial: FrozenTrial) -> float:
    return float(trial.values[0]) if trial.values else float("-inf")
