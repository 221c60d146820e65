"""Parallel jobs: trials in several processes on one study, none lost, none duplicated."""

from __future__ import annotations

import dataclasses
import itertools

import optuna
import pytest

import automm
from automm.core.errors import AutommError
from automm.methods.ksnas.sampler import trial_generation
from tests.conftest import make_toy

CONFIG = automm.SearchConfig(
    folds=1,
    fusion_dim=16,
    max_views=3,
    dropout=0.0,
    lr=5e-3,
    batch_size=64,
    max_epochs=10,
    patience=3,
    ensemble_size=3,
)


def _overlapping(trials: list[optuna.trial.FrozenTrial]) -> bool:
    spans = sorted((t.datetime_start, t.datetime_complete) for t in trials)
    return any(b[0] < a[1] for a, b in itertools.pairwise(spans))


@pytest.mark.slow
def test_jobs_share_the_trials_of_a_target(tmp_path):
    slow = dataclasses.replace(CONFIG, max_epochs=120, patience=120)
    study = automm.Study(make_toy(n=1200), method="random", runs_dir=tmp_path, config=slow)
    study.optimize(12, jobs=3)  # trials of 1-2 s: the workers (several seconds to start on 2 cores) join in
    trials = study.optuna_study.trials
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) >= 12
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)  # nothing left running or failed
    assert len({t.number for t in trials}) == len(trials) <= 12 + 2  # each worker may finish one past it
    assert _overlapping(trials)  # trials did run at the same time
    assert study.optuna_study.user_attrs["ensemble"]["rows"] > 0  # chosen once, after every job ended


@pytest.mark.slow
def test_jobs_keep_the_generations_of_ksnas(tmp_path):
    study = automm.Study(
        make_toy(n=240), runs_dir=tmp_path, config=CONFIG, ksnas={"population_size": 4, "generations": 3}
    )
    study.optimize(jobs=2)
    assert study.method.is_done(study.optuna_study)
    generations = [trial_generation(t) for t in study.optuna_study.trials]
    assert max(g for g in generations if g is not None) == 2  # never a generation past T-1
    assert all(t.state != optuna.trial.TrialState.RUNNING for t in study.optuna_study.trials)


def test_jobs_need_a_storage_they_can_open(tmp_path):
    storage = optuna.storages.InMemoryStorage()
    study = automm.Study(make_toy(n=240), method="random", runs_dir=tmp_path, config=CONFIG, storage=storage)
    with pytest.raises(AutommError, match="URL or journal"):
        study.optimize(2, jobs=2)
    with pytest.raises(AutommError, match="at least 1"):
        study.optimize(2, jobs=0)


@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_ctrl_c_while_optuna_records_a_result_fails_and_retries_that_trial(tmp_path, monkeypatch, storage):
    """An interrupt that lands after the objective returned, while Optuna records the result (outside the
    objective's own handling), must not leave the trial RUNNING until a heartbeat's grace has passed."""
    from optuna.study import _optimize
    from optuna.trial import TrialState

    from automm.store.liveness import retried_from

    url = f"sqlite:///{tmp_path / 'i.db'}" if storage == "sqlite" else f"journal:{tmp_path / 'i.log'}"
    config = automm.SearchConfig(folds=1, fusion_dim=8, max_views=2, max_epochs=3, patience=2)

    def study() -> automm.Study:
        return automm.Study(
            make_toy(), storage=url, study_name="cut", runs_dir=tmp_path, config=config, method="random"
        )

    real = _optimize._tell_with_warning
    calls = itertools.count()

    def cut(*args, **kwargs):
        if next(calls) == 1:  # the second trial: its objective returned, its result is not recorded yet
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_optimize, "_tell_with_warning", cut)
    with pytest.raises(KeyboardInterrupt):
        study().optimize(4)
    monkeypatch.setattr(_optimize, "_tell_with_warning", real)
    trials = study().optuna_study.get_trials(deepcopy=False)
    assert [t.state for t in trials[:2]] == [TrialState.COMPLETE, TrialState.FAIL]
    (retry,) = [t for t in trials if retried_from(t) == 1]
    assert retry.state == TrialState.WAITING and retry.params == trials[1].params
    resumed = study().optimize(5)  # the retry is run, nothing is left RUNNING or WAITING
    states = [t.state for t in resumed.optuna_study.get_trials(deepcopy=False)]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert sum(s == TrialState.COMPLETE for s in states) == 5


def _statements(storage: optuna.storages.RDBStorage) -> list[int]:
    from sqlalchemy import event

    count = [0]
    event.listen(storage.engine, "before_cursor_execute", lambda *args: count.__setitem__(0, count[0] + 1))
    return count


def test_the_callbacks_after_a_trial_read_finished_trials_from_storage_once(tmp_path):
    from automm.search.jobs import AfterTrial

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    seen: list[int] = []

    def reads(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        seen.append(len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))))

    statements = _statements(storage)
    last = study.trials[-1]
    AfterTrial([reads])(study, last)
    one = statements[0]
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # a new trial: the next read must see it
    statements[0] = 0
    AfterTrial([reads, reads, reads])(study, study.trials[-1])
    assert statements[0] == one  # three callbacks' reads: the statements of one
    assert seen == [3, 4, 4, 4]


def test_stale_trials_are_reaped_after_each_trial_only_on_a_journal(tmp_path, monkeypatch):
    from automm.search import jobs

    reaped: list[int] = []
    monkeypatch.setattr(jobs, "fail_stale", lambda study, lock_dir: reaped.append(1) or [])
    database = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite'}")
    journal = optuna.create_study(
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log")))
    )
    for study in (database, journal):
        study.optimize(lambda t: 0.0, n_trials=1)
    reap = jobs.StaleTrials(None)
    reap(database, database.trials[0])  # Optuna's heartbeat check does it as each trial starts
    assert reaped == []
    reap(database)  # before and after a run
    reap(journal, journal.trials[0])  # a journal has no heartbeat: automm's marks, after each trial
    assert reaped == [1, 1]
