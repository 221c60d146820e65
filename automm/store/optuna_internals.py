"""The one door to Optuna's private API (``study._storage``, ``trial._trial_id``, ``study._study_id``).

Optuna 5 has no public setter for system attributes, no public way to re-read a running trial or to
fail one whose worker died, and writes each parameter, attribute and intermediate value of a trial in a
transaction of its own; every use of those in automm goes through these functions, so an Optuna
upgrade that changes them is fixed here alone.

On a database storage (SQLite, PostgreSQL, MySQL) the ``*_together`` writers put several values of one
running trial in one transaction (one commit instead of one per value); on other storages they write
one value at a time, as Optuna would. Either way the trial object sees the values, as after Optuna's own
setter.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
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
    """The same for a running trial a sampler sees frozen (``before_trial``, ``sample_relative``); that
    frozen copy, the running trial's own (`written_system_attr`), holds the value too."""
    study._storage.set_trial_system_attr(trial._trial_id, key, value)
    remember_system_attr(trial, key, value)


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


@contextmanager
def finished_trials_read_once(study: optuna.Study) -> Iterator[None]:
    """Within the block, a read of finished trials only (``study.get_trials(states=...)`` with every
    state finished) asks a database storage once: later ones are answered from Optuna's own cache of
    finished trials as it stood after the newest read, so trials other workers finish meanwhile are
    seen from the next block on (or after a read that includes unfinished trials). Finished trials
    never change, so nothing read is stale but the list of which ones exist. A trial's objective runs
    in one block (about a dozen such reads a trial, each loading the running trials in full, before).
    Journal and in-memory storages, and a block inside a block, read as before."""
    storage = study._storage
    if not isinstance(storage, _CachedStorage) or "get_all_trials" in vars(storage):
        yield
        return
    read = storage.get_all_trials
    synced: set[int] = set()

    def get_all_trials(
        study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if study_id not in synced or not _finished_only(states):
            trials = read(study_id, deepcopy=deepcopy, states=states)
            synced.add(study_id)
            return trials
        with storage._lock:
            cached = [t for t in storage._studies[study_id].trials.values() if t.state in states]
        cached.sort(key=lambda t: t.number)
        return copy.deepcopy(cached) if deepcopy else cached

    storage.get_all_trials = get_all_trials  # type: ignore[method-assign]
    try:
        yield
    finally:
        del storage.get_all_trials


def _finished_only(states: Container[TrialState] | None) -> bool:
    if states is None or not hasattr(states, "__iter__"):
        return False
    return all(state.is_finished() for state in states)  # type: ignore[attr-defined]


def _database(trial: optuna.Trial) -> RDBStorage | None:
    """The database storage behind ``trial`` (Optuna wraps it in a cache), or None for another kind."""
    storage = getattr(trial.study._storage, "_backend", trial.study._storage)
    return storage if isinstance(storage, RDBStorage) else None


def _together(
    trial: optuna.Trial,
    items: dict[Any, Any],
    one_by_one: Callable[[Any, Any], None],
    write: Callable[[RDBStorage, Any, Any, Any], None],
) -> bool:
    """Write ``items`` of a running trial with ``write(database, session, key, value)`` in one transaction
    on a database storage (True), else each with Optuna's own ``one_by_one(key, value)`` (False)."""
    database = _database(trial)
    if database is None or len(items) < 2:
        for key, value in items.items():
            one_by_one(key, value)
        return False
    with _create_scoped_session(database.scoped_session, True) as session:
        for key, value in items.items():
            write(database, session, key, value)
    return True


def set_user_attrs_together(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """``trial.set_user_attr`` for each item, in one transaction on a database storage."""
    set_attrs_together(trial, user=attrs)


def set_attrs_together(
    trial: optuna.Trial, user: dict[str, Any] | None = None, system: dict[str, Any] | None = None
) -> None:
    """User attributes ``user`` and system attributes ``system`` of a running trial, in one transaction
    on a database storage (else one write each, as Optuna's own setters)."""
    items = {("user", k): v for k, v in (user or {}).items()} | {("system", k): v for k, v in (system or {}).items()}
    tables = {"user": models.TrialUserAttributeModel, "system": models.TrialSystemAttributeModel}

    def one_by_one(kind_key: tuple[str, str], value: Any) -> None:
        kind, key = kind_key
        if kind == "user":
            trial.set_user_attr(key, value)
        else:
            set_trial_system_attr(trial, key, value)

    def write(database: RDBStorage, session: Any, kind_key: tuple[str, str], value: Any) -> None:
        database._set_trial_attr_without_commit(session, tables[kind_key[0]], trial._trial_id, kind_key[1], value)

    if _together(trial, items, one_by_one, write):
        trial._cached_frozen_trial.user_attrs.update(user or {})
    trial._cached_frozen_trial.system_attrs.update(system or {})


def report_together(trial: optuna.Trial, values: dict[int, float]) -> None:
    """``trial.report(value, step)`` for each step not reported yet, in one transaction on a database
    storage; for a study whose pruner never reads them before the trial ends (no pruning)."""
    reported = trial._cached_frozen_trial.intermediate_values
    fresh = {int(step): float(v) for step, v in values.items() if step not in reported}

    def write(database: RDBStorage, session: Any, step: int, value: float) -> None:
        database._set_trial_intermediate_value_without_commit(session, trial._trial_id, step, value)

    if _together(trial, fresh, lambda step, value: trial.report(value, step), write):
        reported.update(fresh)


def suggest_together(trial: optuna.Trial, distributions: dict[str, BaseDistribution]) -> dict[str, Any] | None:
    """Every parameter of ``distributions`` from the sampler's relative proposal, written in one
    transaction, as ``trial.suggest_*`` would write them one by one; None (nothing written) unless the
    storage is a database and the proposal holds each of them, none fixed (enqueued) or suggested before."""
    database = _database(trial)
    cached = trial._cached_frozen_trial
    if (
        database is None
        or any(name in cached.distributions or name in trial._fixed_params for name in distributions)
        or not all(trial._is_relative_param(name, dist) for name, dist in distributions.items())
    ):
        return None
    params = {name: trial.relative_params[name] for name in distributions}
    with _create_scoped_session(database.scoped_session, True) as session:
        for name, dist in distributions.items():
            internal = dist.to_internal_repr(params[name])
            database._set_trial_param_without_commit(session, trial._trial_id, name, internal, dist)
    for name, dist in distributions.items():
        cached.distributions[name] = dist
        cached.params[name] = params[name]
    return params
