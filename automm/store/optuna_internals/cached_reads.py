"""Answering a trial's repeated reads of finished trials from Optuna's own cache (`finished_trials_read_once`),
on a database storage.
"""

from __future__ import annotations

import copy
from collections.abc import Container, Iterator
from contextlib import contextmanager

import optuna
from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import FrozenTrial, TrialState


@contextmanager
def finished_trials_read_once(
    study: optuna.Study, *, synced: bool = False, finished: FrozenTrial | None = None
) -> Iterator[None]:
    """Within the block, a read of finished trials only (``study.get_trials(states=...)`` with every
    state finished) asks a database storage once: later ones are answered from Optuna's own cache of
    finished trials as it stood after the newest read, so trials other workers finish meanwhile are
    seen from the next block on (or after a read that includes unfinished trials). Finished trials
    never change, so nothing read is stale but the list of which ones exist. A trial's objective runs
    in one block (about a dozen such reads a trial, each loading the running trials in full, before).
    ``synced``: the cache was brought up to date just before the block (`Study.ask` reads every new and
    unfinished trial through it, to find a waiting one), so no read of finished trials asks the storage.
    ``finished``: the trial this process has just finished (what Optuna hands its callbacks); where the
    cache saw no other trial running when it was last brought up to date (this process alone on the
    study, as far as it knows), the trial goes into the cache as finished and nothing is read: a worker
    that joined since and finished a trial meanwhile is seen from the next read on. Otherwise the block's
    first read asks the storage. Journal and in-memory storages, and a block inside a block, read as before."""
    storage = study._storage
    if not isinstance(storage, _CachedStorage) or "get_all_trials" in vars(storage):
        yield
        return
    read = storage.get_all_trials
    synced_ids: set[int] = {study._study_id} if synced and study._study_id in storage._studies else set()
    if finished is not None and _alone_with(storage, study._study_id, finished):
        with storage._lock:
            storage._studies[study._study_id].trials[finished.number] = finished
        synced_ids.add(study._study_id)

    def get_all_trials(
        study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if study_id not in synced_ids or not _finished_only(states):
            trials = read(study_id, deepcopy=deepcopy, states=states)
            synced_ids.add(study_id)
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


def _alone_with(storage: _CachedStorage, study_id: int, trial: FrozenTrial) -> bool:
    """Whether Optuna's cache holds ``trial`` (finished now) and, besides it, no running trial."""
    with storage._lock:
        cached = storage._studies.get(study_id)
        if cached is None or trial.number not in cached.trials or not trial.state.is_finished():
            return False
        others = (t for number, t in cached.trials.items() if number != trial.number)
        return not any(t.state == TrialState.RUNNING for t in others)


def _finished_only(states: Container[TrialState] | None) -> bool:
    if states is None or not hasattr(states, "__iter__"):
        return False
    return all(state.is_finished() for state in states)  # type: ignore[attr-defined]
