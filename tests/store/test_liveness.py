"""Trials of dead or interrupted workers are failed and retried: units, then real processes and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automm.core import keys
from automm.core.errors import AutommError
from automm.methods.ksnas.sampler import trial_generation
from automm.store import optuna_internals
from automm.store.liveness import (
    ALIVE,
    HEARTBEAT_ENV,
    MAX_RETRY,
    fail_stale,
    heartbeat_seconds,
    retried_from,
    retry,
)
from automm.store.storages import open_storage
from tests.conftest import small_search_command, toy_npz

ROOT = Path(__file__).resolve().parents[2]


def _journal_study(tmp_path: Path) -> optuna.Study:
    storage = open_storage(f"journal:{tmp_path / 'journal.log'}")
    return optuna.create_study(storage=storage, study_name="s")


def test_heartbeat_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(HEARTBEAT_ENV, raising=False)
    assert heartbeat_seconds() == 30
    monkeypatch.setenv(HEARTBEAT_ENV, "2")
    assert heartbeat_seconds() == 2
    for bad in ("0", "x"):
        monkeypatch.setenv(HEARTBEAT_ENV, bad)
        with pytest.raises(AutommError, match=HEARTBEAT_ENV):
            heartbeat_seconds()


def test_database_storages_get_a_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setenv(HEARTBEAT_ENV, "5")
    storage = open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    assert storage.get_heartbeat_interval() == 5 and storage.grace_period == 15
    assert storage.get_heartbeat_stale_trial_callback() is retry


def test_a_retry_keeps_the_candidate_its_generation_and_first_try_name(tmp_path):
    study = _journal_study(tmp_path)
    trial = study.ask({"x": optuna.distributions.IntDistribution(0, 9)})
    study._storage.set_trial_system_attr(trial._trial_id, "KSNASSampler:generation", 2)
    trial.set_user_attr(keys.BASELINE, "late fusion")
    trial.set_user_attr(keys.FOLD_SCORES, [0.5])  # half-done work is not carried over
    study.tell(trial, state=TrialState.FAIL)
    frozen = study.trials[0]
    for _ in range(MAX_RETRY + 2):  # each retry fails again
        retry(study, frozen)
        waiting = study.get_trials(states=(TrialState.WAITING,))
        if not waiting or waiting[-1].number == frozen.number:
            break
        frozen = waiting[-1]
        assert frozen.params == study.trials[0].params and retried_from(frozen) == 0
        assert frozen.system_attrs["KSNASSampler:generation"] == 2
        assert frozen.user_attrs == {keys.BASELINE: "late fusion"}
        study._storage.set_trial_state_values(frozen._trial_id, TrialState.RUNNING)
        study._storage.set_trial_state_values(frozen._trial_id, TrialState.FAIL)
        frozen = study._storage.get_trial(frozen._trial_id)
    assert len(study.trials) == 1 + MAX_RETRY  # the original and MAX_RETRY retries


def test_fail_stale_fails_and_retries_only_trials_without_a_sign_of_life(tmp_path):
    study = _journal_study(tmp_path)
    dist = {"x": optuna.distributions.IntDistribution(0, 9)}
    dead, alive = study.ask(dist), study.ask(dist)
    study._storage.set_trial_system_attr(dead._trial_id, ALIVE, time.time() - 100)
    study._storage.set_trial_system_attr(alive._trial_id, ALIVE, time.time())
    assert fail_stale(study, tmp_path, grace=10) == [dead.number]
    states = {t.number: t.state for t in study.trials}
    assert states == {0: TrialState.FAIL, 1: TrialState.RUNNING, 2: TrialState.WAITING}
    assert retried_from(study.trials[2]) == 0
    assert fail_stale(study, tmp_path, grace=10) == []  # failed once, retried once


# -- real processes, real signals ------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", HEARTBEAT_ENV: "1"}


def _load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="killed", storage=open_storage(storage))


def _stop_mid_trial(cmd: list[str], storage: str, sig: int) -> tuple[int, subprocess.CompletedProcess]:
    """Start the search, wait until a trial after the first is running its candidate, send ``sig``;
    (the trial the signal stopped, the process). A trial may finish between being seen and the signal
    landing: then the stopped trial is whichever ran next, and if the signal fell between trials the
    command is started again."""
    stopped_state = TrialState.RUNNING if sig == signal.SIGKILL else TrialState.FAIL
    for _ in range(5):
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        deadline = time.time() + 240
        seen = None
        while seen is None and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
            try:
                running = _load(storage).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            except Exception:  # not created yet
                continue
            seen = next((t.number for t in running if t.number >= 1 and keys.GENOTYPE in t.user_attrs), None)
        assert seen is not None, "no trial was caught running"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        stopped = [
            t.number
            for t in _load(storage).get_trials(deepcopy=False, states=(stopped_state,))
            if t.number >= seen and keys.GENOTYPE in t.user_attrs
        ]
        if stopped:
            return stopped[0], subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    raise AssertionError("the signal never landed inside a trial")


def _assert_finished_with_nothing_lost(storage: str, victim: int) -> None:
    study = _load(storage)
    trials = study.get_trials(deepcopy=False)
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert study.trials[victim].state == TrialState.FAIL
    (redo,) = [t for t in trials if retried_from(t) == victim]
    assert redo.state == TrialState.COMPLETE
    assert redo.params == study.trials[victim].params
    assert trial_generation(redo) == trial_generation(study.trials[victim])
    per_generation = Counter(trial_generation(t) for t in trials if t.state == TrialState.COMPLETE)
    assert sorted(per_generation) == [0, 1, 2] and min(per_generation.values()) >= 4


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_kill_9_mid_trial_then_the_same_command_finishes_with_nothing_lost(tmp_path, kind, request):
    storage = {
        "journal": lambda: f"journal:{tmp_path / 'j.log'}",
        "sqlite": lambda: f"sqlite:///{tmp_path / 'k.db'}",
        "postgresql": lambda: request.getfixturevalue("postgres_url"),
    }[kind]()
    cmd = small_search_command(toy_npz(tmp_path / "toy.npz", n=3000), storage, tmp_path, "killed")  # trials to catch
    victim, killed = _stop_mid_trial(cmd, storage, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert _load(storage).trials[victim].state == TrialState.RUNNING  # nobody has noticed yet
    time.sleep(3.5)  # the grace period: three heartbeats of 1 s
    again = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_finished_with_nothing_lost(storage, victim)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_ctrl_c_mid_trial_is_one_line_and_the_trial_is_retried_on_resume(tmp_path, kind, request):
    storage = {
        "journal": lambda: f"journal:{tmp_path / 'c.log'}",
        "sqlite": lambda: f"sqlite:///{tmp_path / 'c.db'}",
        "postgresql": lambda: request.getfixturevalue("postgres_url"),
    }[kind]()
    cmd = small_search_command(toy_npz(tmp_path / "toy.npz", n=3000), storage, tmp_path, "killed")  # trials to catch
    victim, stopped = _stop_mid_trial(cmd, storage, signal.SIGINT)
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr and "KeyboardInterrupt" not in stopped.stderr, stopped.stderr
    assert stopped.stderr.strip().splitlines()[-1].startswith("interrupted: finished trials are saved")
    waiting = _load(storage).get_trials(states=(TrialState.WAITING,))  # with first tries still to run
    assert [n for n in map(retried_from, waiting) if n is not None] == [victim]  # at once, not after a grace
    again = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_finished_with_nothing_lost(storage, victim)


@pytest.mark.parametrize("kind", ["journal", "sqlite", "postgresql"])
def test_opening_a_complete_study_fails_a_dead_workers_trial(tmp_path, kind, request, monkeypatch):
    import automm
    from tests.conftest import make_toy

    monkeypatch.setenv(HEARTBEAT_ENV, "1")  # grace: 3 s
    storage = {
        "journal": lambda: f"journal:{tmp_path / 'j.log'}",
        "sqlite": lambda: f"sqlite:///{tmp_path / 'k.db'}",
        "postgresql": lambda: request.getfixturevalue("postgres_url"),
    }[kind]()
    config = automm.SearchConfig(folds=1, ensemble_size=1, fusion_dim=8, max_epochs=2, patience=1)
    study = automm.Study(
        make_toy(n=120), method="random", storage=storage, study_name="dead", runs_dir=tmp_path, config=config
    )
    study.optimize(2)
    dead = study.optuna_study.ask()  # a worker that took a trial and died: no more signs of life
    inner = optuna_internals.storage_of(study.optuna_study)
    if kind == "journal":
        inner.set_trial_system_attr(dead._trial_id, ALIVE, time.time() - 60)
    else:
        inner.record_heartbeat(dead._trial_id)
        time.sleep(4.5)  # past the grace of 3 s, with SQLite's whole-second timestamps
    assert study.optuna_study.trials[dead.number].state == TrialState.RUNNING
    reopened = automm.Study(make_toy(n=120), method="random", storage=storage, study_name="dead", runs_dir=tmp_path)
    assert reopened.method_done(2)  # complete: no trial will start, and still
    assert reopened.optuna_study.trials[dead.number].state == TrialState.FAIL  # failed on opening
    assert [retried_from(t) for t in reopened.optuna_study.get_trials(states=(TrialState.WAITING,))] == [dead.number]
