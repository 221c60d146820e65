"""The one door to Optuna's private API (``study._storage``, ``trial._trial_id``, ``study._study_id``).

Optuna 5 has no public setter for system attributes, no public way to re-read a running trial or to
fail one whose worker died; every use of those in automm goes through these functions, so an Optuna
upgrade that changes them is fixed here alone.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState


def storage_of(study: optuna.Study) -> BaseStorage:
    return study._storage


def study_id(study: optuna.Study) -> int:
    return study._study_id


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    return trial._trial_id


def study_system_attrs(study: optuna.Study) -> dict[str, Any]:
    return study._storage.get_study_system_attrs(study._study_id)


def set_study_system_attr(study: optuna.Study, key: str, value: Any) -> None:
    study._storage.set_study_system_attr(study._study_id, key, value)


def trial_system_attrs(trial: optuna.Trial | FrozenTrial) -> dict[str, Any]:
    """A trial's system attributes, fresh from storage for a running trial."""
    if isinstance(trial, FrozenTrial):
        return trial.system_attrs
    return trial.study._storage.get_trial_system_attrs(trial._trial_id)


def set_trial_system_attr(trial: optuna.Trial, key: str, value: Any) -> None:
    trial.study._storage.set_trial_system_attr(trial._trial_id, key, value)


def set_frozen_trial_system_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """The same for a trial a sampler sees frozen (``sample_relative``, ``get_trial_generation``)."""
    study._storage.set_trial_system_attr(trial._trial_id, key, value)


def frozen(trial: optuna.Trial) -> FrozenTrial:
    """A running trial as its storage holds it now."""
    return trial.study._storage.get_trial(trial._trial_id)


def fail_running(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Mark a RUNNING trial failed; False when another worker changed its state first."""
    return study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
