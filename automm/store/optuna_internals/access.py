"""Handles on a study and its trials that Optuna keeps private (``study._storage``, ``trial._trial_id``,
``study._study_id``), and single reads and writes of system attributes through them (Optuna 5 has no
public setter for system attributes, and no public way to re-read a running trial or to fail one whose
worker died).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState


class TrialsView:
    """A read view of ``study`` whose trials come through ``convert`` (what a wrapped sampler reads); every
    other attribute is the study's own, and writes go to its storage. Optuna's samplers read trials with
    the private ``Study._get_trials``, so the view is here."""

    def __init__(self, study: optuna.Study, convert: Callable[[FrozenTrial], FrozenTrial]) -> None:
        self._study = study
        self._convert = convert

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        return [self._convert(t) for t in self._study._get_trials(deepcopy=False, states=states, use_cache=use_cache)]

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return [self._convert(t) for t in self._study.get_trials(deepcopy=False, states=states)]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


def storage_of(study: optuna.Study) -> BaseStorage:
    return study._storage


def study_id(study: optuna.Study) -> int:
    return study._study_id


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    return trial._trial_id


def study_system_attrs(study: optuna.Study) -> dict[str, Any]:
    return study._storage.get_study_system_attrs(study._study_id)


def study_system_attrs_starting(study: optuna.Study, prefix: str) -> dict[str, Any]:
    """The study system attributes whose key starts with ``prefix``: on a database storage one query of
    those rows alone (the study's attributes also hold optuna-dashboard's figures and notes, tens of
    kilobytes), elsewhere all of them, filtered."""
    database = database_of(study)
    if database is None:
        return {k: v for k, v in study_system_attrs(study).items() if k.startswith(prefix)}
    table = models.StudySystemAttributeModel
    with _create_scoped_session(database.scoped_session) as session:
        rows = (
            session.query(table.key, table.value_json)
            .filter(table.study_id == study._study_id, table.key.startswith(prefix, autoescape=True))
            .all()
        )
    return {key: json.loads(value) for key, value in rows}


def study_system_attr(study: optuna.Study, key: str) -> Any:
    """One study system attribute, None if unset: on a database storage one query of that row alone (not
    optuna-dashboard's figures and notes beside it), elsewhere all of them, looked up."""
    database = database_of(study)
    if database is None:
        return study_system_attrs(study).get(key)
    table = models.StudySystemAttributeModel
    with _create_scoped_session(database.scoped_session) as session:
        row = session.query(table.value_json).filter(table.study_id == study._study_id, table.key == key).one_or_none()
    return None if row is None else json.loads(row[0])


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
    """The same for a running trial a sampler sees frozen (``before_trial``, ``sample_relative``); that
    frozen copy, the running trial's own (`written_system_attr`), holds the value too."""
    study._storage.set_trial_system_attr(trial._trial_id, key, value)
    remember_system_attr(trial, key, value)


def is_enqueued(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was enqueued with fixed parameters (``study.enqueue_trial``)."""
    return "fixed_params" in trial.system_attrs


def remember_system_attr(trial: FrozenTrial, key: str, value: Any) -> None:
    """Put in a running trial's frozen copy a system attribute Optuna's own code just wrote to storage."""
    trial.system_attrs[key] = value


def written_system_attr(trial: optuna.Trial | FrozenTrial, key: str) -> Any:
    """A system attribute that never changes once written (e.g. a trial's generation): from the trial's
    own frozen copy when it holds it (written through this module, or seen by the sampler), else
    `trial_system_attrs`; None if unwritten."""
    if isinstance(trial, optuna.Trial) and key in trial._cached_frozen_trial.system_attrs:
        return trial._cached_frozen_trial.system_attrs[key]
    return trial_system_attrs(trial).get(key)


def frozen(trial: optuna.Trial) -> FrozenTrial:
    """A running trial as its storage holds it now."""
    return trial.study._storage.get_trial(trial._trial_id)


def fail_running(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Mark a RUNNING trial failed; False when another worker changed its state first."""
    return study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)


def database_of(study: optuna.Study) -> RDBStorage | None:
    """The database storage behind ``study`` (Optuna wraps it in a cache), or None for another kind."""
    storage = getattr(study._storage, "_backend", study._storage)
    return storage if isinstance(storage, RDBStorage) else None
