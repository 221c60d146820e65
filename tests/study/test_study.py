import dataclasses
import json
import threading
import time

import numpy as np
import optuna
import pytest

import automm
import automm.search.objective as objective_module
from automm.core import keys
from automm.core.errors import AutommError
from automm.methods.ksnas.space import Genotype
from automm.search.objective import FusionObjective
from automm.store import optuna_internals


def test_study_runs_and_reports(toy, fast_config, tmp_path):
    study = automm.Study(toy, config=fast_config, runs_dir=tmp_path, sampler="random")
    study.optimize(4)
    assert study.n_finished() == 4
    assert study.storage_url == f"sqlite:///{tmp_path}/toy.db"
    assert isinstance(study.best_genotype, Genotype) and study.space.contains(study.best_genotype)
    table = study.trials_table()
    assert [r["value"] for r in table] == sorted((r["value"] for r in table), reverse=True)
    assert table[0]["value"] == study.best_value
    study.optimize(4)  # already holds 4: nothing more runs
    assert len(study.optuna_study.trials) == 4


def test_interrupted_study_resumes(toy, fast_config, tmp_path, monkeypatch):
    storage = f"sqlite:///{tmp_path}/s.db"
    calls = {"n": 0}
    real_fit = objective_module.fit

    def interrupting_fit(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(objective_module, "fit", interrupting_fit)
    study = automm.Study(toy, config=fast_config, storage=storage, study_name="s", sampler="random", seed=3)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(5)
    trials = study.optuna_study.trials
    states = [t.state for t in trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 2 and optuna.trial.TrialState.FAIL in states
    failed = states.index(optuna.trial.TrialState.FAIL)
    (retry,) = [t for t in trials if t.state == optuna.trial.TrialState.WAITING and t.number > failed]
    assert retry.params == trials[failed].params  # the interrupted candidate waits to be retried

    monkeypatch.setattr(objective_module, "fit", real_fit)
    resumed = automm.Study(toy, storage=storage, study_name="s")  # settings come from the storage
    assert (resumed.sampler_name, resumed.seed, resumed.config) == ("random", 3, fast_config)
    resumed.optimize(5)
    assert resumed.n_finished() == 5
    genotypes = [t.user_attrs["genotype"] for t in resumed.optuna_study.trials if t.state.is_finished()]
    assert len(genotypes) == 6  # 5 finished + the failed one
    redone = resumed.optuna_study.trials[retry.number]
    assert redone.state == optuna.trial.TrialState.COMPLETE and redone.user_attrs["genotype"] == genotypes[failed]


def test_resume_refuses_contradicting_settings(toy, fast_config, tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    automm.Study(toy, config=fast_config, storage=storage, study_name="s", sampler="tpe")
    with pytest.raises(AutommError, match="created with sampler='tpe'"):
        automm.Study(toy, storage=storage, study_name="s", sampler="random")
    with pytest.raises(AutommError, match="created for data 'toy'"):
        automm.Study("digits", storage=storage, study_name="s")
    with pytest.raises(AutommError, match="created with config"):
        automm.Study(toy, storage=storage, study_name="s", config=dataclasses.replace(fast_config, fusion_dim=8))


def test_resume_refuses_data_whose_views_changed(toy, fast_config, tmp_path):
    """The same source name can hold other views (MM-IMDB's HDF5 vs raw release, a re-extracted file)."""
    storage = f"sqlite:///{tmp_path}/s.db"
    automm.Study(toy, config=fast_config, storage=storage, study_name="s", sampler="tpe")
    automm.Study(toy, storage=storage, study_name="s")  # same views: resumes
    other = automm.MultimodalDataset(
        "toy", {"left/other": toy.views["left/feat"]}, toy.labels, toy.task, toy.splits, toy.class_names
    )
    with pytest.raises(AutommError, match=r"created for views left/feat, right/feat, noise/feat, but the data now"):
        automm.Study(other, storage=storage, study_name="s")


def test_foreign_study_and_bad_storage(tmp_path):
    storage = f"sqlite:///{tmp_path}/f.db"
    optuna.create_study(storage=storage, study_name="plain")
    with pytest.raises(AutommError, match="was not made by automm"):
        automm.Study("digits", storage=storage, study_name="plain")
    with pytest.raises(AutommError, match="cannot open storage"):
        automm.Study("digits", storage="nosuchdb://x")


def test_evaluate_retrains_on_train_and_validation(toy, fast_config, tmp_path):
    study = automm.Study(toy, config=fast_config, runs_dir=tmp_path, sampler="random")
    with pytest.raises(AutommError, match="no completed trial"):
        study.evaluate()
    study.optimize(3)
    result = study.evaluate(seeds=2)
    assert result.genotype == str(study.best_genotype) and len(result.scores) == 2
    assert result.epochs == study.best_trial.user_attrs["best_epoch"]
    assert 0.5 < result.mean <= 1.0 and result.std >= 0
    stored = study.optuna_study.user_attrs["evaluation"]
    assert json.loads(json.dumps(stored))["scores"] == result.scores


def test_search_on_digits_beats_best_single_view(tmp_path):
    """End to end: a short TPE search fuses views better than any single view does."""
    config = automm.SearchConfig(folds=1, fusion_dim=32, max_views=3, batch_size=64, max_epochs=60, patience=6)
    study = automm.Study("digits", config=config, runs_dir=tmp_path, sampler="tpe", seed=0)
    objective = FusionObjective(study.dataset, study.method, study.space, config, seed=0)
    single = {
        v: objective.train(objective.build(Genotype((v,))), Genotype((v,))).best_score for v in study.dataset.view_names
    }
    study.optimize(12)
    assert study.best_genotype.k >= 2
    assert study.best_value > max(single.values()) + 0.02, (study.best_value, single)


def test_a_study_another_worker_is_creating_is_waited_for(tmp_path):
    import threading

    from automm.core import keys
    from automm.store.storages import automm_meta, settled_summary

    url = f"sqlite:///{tmp_path}/s.db"
    bare = optuna.create_study(storage=url, study_name="s")  # created, not yet described by its creator

    def describe_later():
        time.sleep(0.5)
        bare.set_user_attr(keys.META, {"sampler": "random"})

    threading.Thread(target=describe_later).start()
    assert automm_meta(settled_summary(url, "s", wait=10.0)) == {"sampler": "random"}
    optuna.create_study(storage=url, study_name="foreign")
    with pytest.raises(AutommError, match="not made by automm"):
        automm_meta(settled_summary(url, "foreign", wait=0.3))


def test_workers_creating_one_study_at_once_join_the_first(toy, fast_config, tmp_path, monkeypatch):
    from automm.study import study as study_module

    url = f"sqlite:///{tmp_path}/j.db"
    first = automm.Study(toy, config=fast_config, storage=url, study_name="s", sampler="random")
    real = study_module.settled_summary
    calls = []

    def not_yet_seen(storage, name, wait=15.0):  # this worker looked before the first one created it
        calls.append(name)
        return None if len(calls) == 1 else real(storage, name, wait)

    monkeypatch.setattr(study_module, "settled_summary", not_yet_seen)
    monkeypatch.setattr(
        study_module, "find_summary", lambda storage, name: None if len(calls) < 1 else real(storage, name)
    )
    second = automm.Study(toy, config=fast_config, storage=url, study_name="s", sampler="random")
    assert second.optuna_study._study_id == first.optuna_study._study_id
    waiting = first.optuna_study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == len({t.user_attrs["baseline"] for t in waiting})  # first tries enqueued once
    calls.clear()
    with pytest.raises(AutommError, match="another worker created study 's' just now with other settings"):
        automm.Study(toy, config=fast_config, storage=url, study_name="s", sampler="tpe")


def test_a_worker_opening_a_study_while_another_creates_it_waits_for_the_lock(toy, fast_config, tmp_path, monkeypatch):
    """The creator holds the study lock from creating the study to describing it: a worker that sees
    the study half made waits for the lock, not for a fixed time, and then joins it."""
    from automm.core import keys
    from automm.store.storages import find_summary
    from automm.study import study as study_module

    url, artifacts = f"sqlite:///{tmp_path}/c.db", tmp_path / "artifacts"
    real_create, real_settled = study_module.create_or_join, study_module.settled_summary
    real_lock = study_module.creation_lock
    created, second_at_lock = threading.Event(), threading.Event()
    second_worker = threading.current_thread()
    lock_needed_by_second: list[bool] = []

    def stalled_creator(*args, **kwargs):  # descheduled between creating and describing, until the second worker waits
        made = real_create(*args, **kwargs)
        created.set()
        second_at_lock.wait(60)
        return made

    def watched_lock(where, needed):
        if threading.current_thread() is second_worker:
            lock_needed_by_second.append(needed)
            second_at_lock.set()
        return real_lock(where, needed=needed)

    monkeypatch.setattr(study_module, "create_or_join", stalled_creator)
    monkeypatch.setattr(study_module, "creation_lock", watched_lock)
    monkeypatch.setattr(study_module, "settled_summary", lambda storage, name: real_settled(storage, name, wait=0.0))
    opened: dict[str, automm.Study] = {}
    creator = threading.Thread(
        target=lambda: opened.setdefault(
            "first",
            automm.Study(
                toy, config=fast_config, storage=url, study_name="s", sampler="random", artifact_dir=artifacts
            ),
        )
    )
    creator.start()
    assert created.wait(60)
    assert keys.META not in find_summary(url, "s").user_attrs  # half made: created, not described
    second = automm.Study(
        toy, config=fast_config, storage=url, study_name="s", sampler="random", artifact_dir=artifacts
    )
    creator.join()
    assert lock_needed_by_second == [True]  # the second worker saw it half made and took the lock
    assert second.optuna_study._study_id == opened["first"].optuna_study._study_id


def test_a_refused_new_study_leaves_no_artifact_folder(toy, fast_config, tmp_path):
    artifacts = tmp_path / "artifacts"
    with pytest.raises(AutommError):
        automm.Study(
            toy, config=fast_config, storage=f"sqlite:///{tmp_path}/r.db", sampler="nope", artifact_dir=artifacts
        )
    assert not artifacts.exists()


def test_the_linear_candidate_is_chosen_once_before_the_first_trial(toy, fast_config, tmp_path, monkeypatch):
    """Its seconds count inside a time budget (chosen at the end, they ran past it), and every job reads it back."""
    from automm.delivery import trainer as trainer_module

    real = trainer_module.study_linear_candidate
    chosen_at: list[float] = []

    def timed(context):
        made = real(context)
        chosen_at.append(time.time())
        return made

    monkeypatch.setattr(trainer_module, "study_linear_candidate", timed)
    study = automm.Study(toy, config=fast_config, runs_dir=tmp_path, sampler="random")
    assert fast_config.ensemble_size > 1
    study.optimize(2)
    first = min(t.datetime_start.timestamp() for t in study.optuna_study.get_trials() if t.datetime_start)
    assert len(chosen_at) == 1 and chosen_at[0] <= first
    kept = optuna_internals.study_system_attrs(study.optuna_study)[keys.LINEAR]
    assert study.optuna_study.user_attrs[keys.ENSEMBLE]["fallback_score"] == pytest.approx(np.mean(kept["fold_scores"]))
