"""Trials whose worker died or was interrupted: found, failed and retried, so nothing is lost.

- RDB storages (SQLite, PostgreSQL) use Optuna's heartbeat: `heartbeat_options` gives `RDBStorage`
  an interval, a grace period and `retry` as the callback for a trial whose heartbeat stopped;
  Optuna fails such trials at the start of each new trial in any worker.
- A journal file has no heartbeat in Optuna, so automm keeps its own: `LivenessMark` writes the
  time into a running trial's system attributes every interval, and `fail_stale` (run when a worker
  starts and after each trial) fails RUNNING trials whose mark, or start, is older than the grace
  period, and retries them.
- A trial stopped by Ctrl-C is retried at once (`retry`), so a resumed search evaluates it.

A retry is a WAITING copy of the trial: same parameters, generation and first-try name, so KS-NAS
generations, MFAS's schedule and the KB versions see the same candidate again; at most `MAX_RETRY`
times per candidate. The interval is `AUTOMM_HEARTBEAT_SECONDS` (default 30 s); the grace period is
three intervals.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from types import TracebackType
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automm.core import keys
from automm.core.errors import AutommError
from automm.store import optuna_internals
from automm.store.artifacts import study_lock

HEARTBEAT_ENV = "AUTOMM_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT = 30
MAX_RETRY = 3
ALIVE = "automm:alive"  # a running trial's last sign of life, seconds since the epoch (journal only)
_KEPT_SYSTEM = ("fixed_params", "failed_trial", "retry_history")  # + the GA generation key


def heartbeat_seconds() -> int:
    """The heartbeat interval: `AUTOMM_HEARTBEAT_SECONDS`, else 30."""
    text = os.environ.get(HEARTBEAT_ENV, "")
    if not text:
        return DEFAULT_HEARTBEAT
    try:
        seconds = int(text)
    except ValueError:
        raise AutommError(f"{HEARTBEAT_ENV} must be a whole number of seconds, got {text!r}") from None
    if seconds < 1:
        raise AutommError(f"{HEARTBEAT_ENV} must be at least 1, got {seconds}")
    return seconds


def grace_seconds() -> int:
    return 3 * heartbeat_seconds()


def heartbeat_options() -> dict[str, Any]:
    """Keyword arguments of `optuna.storages.RDBStorage` that fail and retry trials of dead workers."""
    return {
        "heartbeat_interval": heartbeat_seconds(),
        "grace_period": grace_seconds(),
        "heartbeat_stale_trial_callback": retry,
    }


def retry(study: optuna.Study, trial: FrozenTrial) -> None:
    """Enqueue a WAITING copy of failed ``trial`` (see module docstring); no more than `MAX_RETRY` times."""
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > MAX_RETRY:
        return
    system = {k: v for k, v in trial.system_attrs.items() if k in _KEPT_SYSTEM or k.endswith(":generation")}
    system.update({"failed_trial": trial.system_attrs.get("failed_trial", trial.number), "retry_history": history})
    kept = {k: v for k, v in trial.user_attrs.items() if k == keys.BASELINE}
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=kept,
            system_attrs=system,
        )
    )


def retried_from(trial: FrozenTrial) -> int | None:
    """The number of the first trial ``trial`` retries (None: it is no retry)."""
    return trial.system_attrs.get("failed_trial")  # what Optuna's RetryFailedTrialCallback records too


def needs_own_mark(storage: Any) -> bool:
    """Whether trials in ``storage`` need automm's liveness mark (a journal: no Optuna heartbeat)."""
    return isinstance(storage, optuna.storages.JournalStorage)


class LivenessMark:
    """Within the block, a thread writes the time into the running trial every interval."""

    def __init__(self, trial: optuna.Trial, interval: float | None = None) -> None:
        self.storage, self.trial_id = trial.storage, optuna_internals.trial_id(trial)
        self.interval = interval or heartbeat_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="automm-liveness")

    def _beat(self) -> None:
        while True:
            try:
                self.storage.set_trial_system_attr(self.trial_id, ALIVE, time.time())
            except Exception:  # the trial finished or the storage went away: the mark is moot
                return
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> LivenessMark:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()


def fail_stale(study: optuna.Study, lock_dir: Any = None, grace: float | None = None) -> list[int]:
    """Fail and retry the RUNNING trials without a sign of life for ``grace`` seconds: on a journal, by
    automm's own marks; on a database with a heartbeat, by Optuna's (`optuna.storages.fail_stale_trials`,
    whose callback retries them), which Optuna itself runs only when a trial starts, so a study opened
    and found complete would otherwise keep a dead worker's trial RUNNING. Returns the trials failed."""
    storage = optuna_internals.storage_of(study)
    if not needs_own_mark(storage):
        interval = getattr(storage, "get_heartbeat_interval", None)
        if interval is None or interval() is None:
            return []
        running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        if not running:
            return []
        with warnings.catch_warnings():  # fail_stale_trials is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        return sorted(
            t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t.number in running
        )
    grace = grace_seconds() if grace is None else grace
    failed = []
    with study_lock(lock_dir):  # two workers never fail and retry the same trial twice
        now = time.time()
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            started = trial.datetime_start.timestamp() if trial.datetime_start else now
            if now - float(trial.system_attrs.get(ALIVE, started)) <= grace:
                continue
            try:
                if not optuna_internals.fail_running(study, trial):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            retry(study, trial)
            failed.append(trial.number)
    return failed
