"""Values written together (one transaction on a database storage) are what Optuna's own setters write:
the storage holds them, the running trial sees them, and other storages get them one at a time."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.storages import RDBStorage

from automm.store import optuna_internals

SPACE = {"n": IntDistribution(1, 4), "op": CategoricalDistribution(("add", "concat")), "k": IntDistribution(0, 3)}


class Proposing(optuna.samplers.RandomSampler):
    """A relative sampler proposing ``SPACE`` whole, as automm's genotype samplers do."""

    def infer_relative_search_space(self, study, trial):
        return dict(SPACE)

    def sample_relative(self, study, trial, search_space):
        return {"n": 3, "op": "concat", "k": 2} if search_space else {}


def _storage(tmp_path, kind: str):
    if kind == "sqlite":
        return RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    if kind == "journal":
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log")))
    return optuna.storages.InMemoryStorage()


def _suggest_each(trial) -> dict:
    """Optuna's own way: one suggestion (and one write) per parameter."""
    return {
        name: trial.suggest_int(name, dist.low, dist.high)
        if isinstance(dist, IntDistribution)
        else trial.suggest_categorical(name, dist.choices)
        for name, dist in SPACE.items()
    }


def _commits(storage) -> list[int]:
    """Count database commits of ``storage`` (none for other kinds)."""
    count = [0]
    if isinstance(storage, RDBStorage):
        from sqlalchemy import event

        event.listen(storage.engine, "commit", lambda conn: count.__setitem__(0, count[0] + 1))
    return count


def _written_together(storage, database: bool) -> None:
    study = optuna.create_study(storage=storage, sampler=Proposing(), direction="maximize")
    trial = study.ask()
    commits = _commits(storage)
    params = optuna_internals.suggest_together(trial, SPACE)
    optuna_internals.set_user_attrs_together(trial, {"a": 1, "b": [1, 2], "c": "x"})
    optuna_internals.report_together(trial, {1: 0.5, 2: 0.75, 3: 0.7})
    if database:
        assert params == {"n": 3, "op": "concat", "k": 2}
        assert commits[0] == 3  # one transaction each, where Optuna's setters commit nine times
    else:  # not a database: nothing suggested here; the caller suggests one by one
        assert params is None
        params = _suggest_each(trial)
    # the trial sees them: suggesting again returns the stored values without sampling
    assert _suggest_each(trial) == params
    assert trial.user_attrs == {"a": 1, "b": [1, 2], "c": "x"}
    study.tell(trial, 1.0)
    stored = study.get_trials()[0]
    assert stored.params == params and stored.distributions == SPACE
    assert stored.user_attrs == {"a": 1, "b": [1, 2], "c": "x"}
    assert stored.intermediate_values == {1: 0.5, 2: 0.75, 3: 0.7}


@pytest.mark.parametrize("kind", ["sqlite", "journal", "memory"])
def test_values_written_together_are_stored_and_seen_by_the_trial(tmp_path, kind):
    _written_together(_storage(tmp_path, kind), database=kind == "sqlite")


def test_values_written_together_on_postgresql(postgres_url):
    _written_together(RDBStorage(postgres_url), database=True)


def test_an_enqueued_trial_is_suggested_one_by_one(tmp_path):
    study = optuna.create_study(storage=_storage(tmp_path, "sqlite"), sampler=Proposing())
    study.enqueue_trial({"n": 1, "op": "add", "k": 0})
    trial = study.ask()
    assert optuna_internals.suggest_together(trial, SPACE) is None
    assert _suggest_each(trial) == {"n": 1, "op": "add", "k": 0}


def test_a_step_already_reported_is_not_written_again(tmp_path):
    study = optuna.create_study(storage=_storage(tmp_path, "sqlite"), direction="maximize")
    trial = study.ask()
    trial.report(0.1, 1)
    optuna_internals.report_together(trial, {1: 0.9, 2: 0.2, 3: 0.3})
    study.tell(trial, 1.0)
    assert study.get_trials()[0].intermediate_values == {1: 0.1, 2: 0.2, 3: 0.3}
