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

After the search, delivery may train a kept candidate's warm-started networks on (`automm.delivery.finishing`);
`keep_finished` stores the result beside the original: the networks and their out-of-fold predictions as two
artifacts, then one study attribute (``automm:fold_networks_finished:<trial>``) with both pointers, the fold
scores and the epochs, so a crash in between leaves unused files, never half a record. `kept` and
`finished` then give the finished version; once a trial's kept networks are pruned, its finished version is
deleted with them and no longer read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
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

__all__ = ["finished", "finishing_cost", "keep", "keep_finished", "kept", "kept_trials", "out_of_fold_state"]

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
        pointer = _put_networks(store, states)
        set_attrs_together(trial, system={keys.FOLD_NETWORKS: pointer})  # read once the trial is complete
        ranked = sorted(holders, key=lambda t: (-_score(t), t.number))
        fallen = ranked[limit - 1 :]  # this trial takes one of the ``limit`` places
        if fallen:  # marked first, in one transaction: a crash in between leaves files, never a dangling pointer
            set_study_system_attrs_together(study, {f"{keys.FOLD_NETWORKS_PRUNED}{t.number}": True for t in fallen})
        finished_now = _finished_records(study) if fallen else {}  # read only when something falls out
        for t in fallen:
            remove_artifact(store, t.system_attrs[keys.FOLD_NETWORKS]["artifact_id"])
            for pointer in _pointers(finished_now.get(t.number)):  # its finished version goes with it
                remove_artifact(store, pointer["artifact_id"])
    return True


def keep_finished(
    study: optuna.Study,
    store: Any,
    trial_number: int,
    states: list[State],
    predictions: Sequence[tuple[np.ndarray, np.ndarray]],
    fold_scores: list[float],
    epochs: int,
    seconds: float,
    lock_dir: Any = None,
) -> dict[str, Any] | None:
    """Store the finished version of trial ``trial_number``'s kept fold networks: ``states`` (fold order),
    their ``predictions`` ((validation rows, probabilities) per fold), scores and training cost (see module
    docstring). Returns the record; an earlier record of the same trial (another worker's) is kept and
    returned instead, and None is returned when the trial's networks were pruned meanwhile."""
    networks = _put_networks(store, states)
    oof = put_weights(store, out_of_fold_state(predictions), "oof")
    record = {
        "networks": networks,
        "predictions": oof,
        "fold_scores": [round(float(s), 6) for s in fold_scores],
        "epochs": int(epochs),
        "seconds": round(float(seconds), 4),
    }
    key = f"{keys.FOLD_NETWORKS_FINISHED}{trial_number}"
    with study_lock(lock_dir):
        pruned = study_system_attrs_starting(study, f"{keys.FOLD_NETWORKS_PRUNED}{trial_number}")
        earlier = study_system_attrs_starting(study, key).get(key)
        if not pruned and earlier is None:
            set_study_system_attrs_together(study, {key: record})
            return record
    for pointer in (networks, oof):  # not needed: pruned, or finished by another worker
        remove_artifact(store, pointer["artifact_id"])
    return None if pruned else earlier


def finished(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """The finished versions of kept fold networks (`keep_finished`), by trial number; those of trials
    whose kept networks were pruned are left out."""
    records = _finished_records(study)
    if not records:
        return {}
    pruned = study_system_attrs_starting(study, keys.FOLD_NETWORKS_PRUNED)
    return {n: r for n, r in records.items() if f"{keys.FOLD_NETWORKS_PRUNED}{n}" not in pruned}


def finishing_cost(study: optuna.Study) -> tuple[int, float]:
    """(epochs, seconds) every finished version cost (`keep_finished`), pruned ones too: what was paid."""
    records = _finished_records(study).values()
    return sum(int(r["epochs"]) for r in records), sum(float(r["seconds"]) for r in records)


def out_of_fold_state(predictions: Sequence[tuple[np.ndarray, np.ndarray]]) -> State:
    """What a candidate keeps of its out-of-fold predictions: ``rows`` (int64, ascending) and their
    ``probabilities`` (float16), from (validation rows, probabilities) per fold."""
    rows = np.concatenate([r for r, _ in predictions])
    probs = np.concatenate([p for _, p in predictions])
    order = np.argsort(rows)
    return {
        "rows": torch.from_numpy(rows[order].astype(np.int64)),
        "probabilities": torch.from_numpy(probs[order].astype(np.float16)),
    }


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
    kept another number of folds; their finished version (`keep_finished`) where there is one. A trial that
    repeated an earlier one reads that one's networks."""
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
    key = f"{keys.FOLD_NETWORKS_FINISHED}{trial.number}"
    record = study_system_attrs_starting(study, key).get(key)
    what = f"fold networks of trial {trial.number}"
    if record is not None:  # trained on after the search (`keep_finished`)
        pointer, what = record["networks"], f"finished {what}"
    merged = get_weights(store, pointer, what)
    states: list[State] = [{} for _ in range(folds)]
    for name, t in merged.items():
        fold, _, inner = name.partition(".")
        states[int(fold.removeprefix("fold"))][inner] = t.float() if t.is_floating_point() else t
    return states


def _put_networks(store: Any, states: list[State]) -> dict[str, Any]:
    """Write fold networks as one artifact (``fold<k>.<name>``, floating point at rest in `STORED_DTYPE`)."""
    merged = {
        f"fold{k}.{name}": (t.to(STORED_DTYPE) if t.is_floating_point() else t)
        for k, state in enumerate(states)
        for name, t in state.items()
    }
    return {**put_weights(store, merged, "folds"), "folds": len(states)}


def _pointers(record: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [] if record is None else [record["networks"], record["predictions"]]


def _finished_records(study: optuna.Study) -> dict[int, dict[str, Any]]:
    prefix = keys.FOLD_NETWORKS_FINISHED
    return {int(k.removeprefix(prefix)): v for k, v in study_system_attrs_starting(study, prefix).items()}


def _score(trial: FrozenTrial) -> float:
    return float(trial.values[0]) if trial.values else float("-inf")
