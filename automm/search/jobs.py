"""Running a study's trials: one job's loop (`run_trials`) and parallel jobs on one machine.

`run_trials` is one process's share of a search: trials until the method's stop rule, the trial
target, a timeout or the time budget's deadline (`automm.search.budget`), with torch's threads set for
it. `start_workers` spawns ``jobs - 1`` processes (the caller is the last job); each opens the same
study by name (its storage given as a URL or ``journal:PATH``, its artifact folder shared, so
the KB, the layer bank and the study lock work as with workers started by hand) and runs trials
until the study's stop rule, the trial target or the shared deadline ends it. Workers do not
choose the ensemble; the caller does once they are all done. Ctrl-C reaches every worker (each
fails its running trial and stops); `stop_workers` forwards it when only the caller received it.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

import optuna

from automm.core.errors import AutommError, option
from automm.core.log import logger
from automm.core.threads import torch_threads
from automm.data.dataset import MultimodalDataset
from automm.search import queries
from automm.search.budget import DeliveryReserve, TimeBudget
from automm.search.objective import FusionObjective
from automm.store import optuna_internals
from automm.store.liveness import fail_stale, needs_own_mark, retried_from, retry
from automm.store.storages import interrupts_held


class RunnableStudy(Protocol):
    """What running trials needs of a study (`automm.Study` is one; this module does not import it)."""

    optuna_study: optuna.Study
    method: Any  # a SearchMethod
    inspector: Callable[[optuna.Study, optuna.trial.FrozenTrial], None]
    last_budget: TimeBudget | None
    dataset: MultimodalDataset
    study_name: str
    artifact_dir: Path | str  # a folder, or s3://bucket
    lock: Any  # what `automm.store.artifacts.study_lock` takes for this study
    device: Any  # a torch.device
    opened_as: tuple[Any, Any, Any, Any, Any]  # (dataset, data, data_dir, storage, runs_dir) as given to open it

    @property
    def objective(self) -> FusionObjective: ...

    @property
    def default_trials(self) -> int: ...

    def n_finished(self) -> int: ...

    def method_done(self, n_trials: int | None) -> bool: ...

    def stop_when_done(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None: ...


JOIN_SECONDS = 30.0  # after Ctrl-C: how long a worker may take to fail its trial and exit


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to open the study and to know when to stop."""

    dataset: Any  # a registered name, or a MultimodalDataset (sent to the worker process)
    data: str | None
    data_dir: str | None
    storage: str
    study_name: str
    runs_dir: str
    artifact_dir: str
    device: str
    n_trials: int | None
    deadline: float | None  # seconds since the epoch
    threads: int | None
    jobs: int
    reserve: DeliveryReserve | None = None


def run_trials(
    study: RunnableStudy,
    n_trials: int | None = None,
    *,
    timeout: float | None = None,
    deadline: float | None = None,
    threads: int | None = None,
    callbacks: Any = None,
    jobs: int = 1,
    reserve: DeliveryReserve | None = None,
) -> TimeBudget | None:
    """This process's trials of ``study`` until done, ``timeout`` or ``deadline`` (seconds since the
    epoch) less ``reserve`` (what follows the search); ``jobs``: how many processes run trials at once.
    No ensemble. Returns the budget callback, if any (``stopped_by_budget`` says whether it stopped the
    search)."""
    if study.method_done(n_trials):
        return None
    stop: Any
    remaining: int | None = None
    capped = n_trials is None and study.method.is_done(study.optuna_study) is not None
    study.method.cap_schedule(study.optuna_study.sampler, capped)
    if capped:
        stop = study.stop_when_done
    else:
        target = study.default_trials if n_trials is None else n_trials
        remaining = target - study.n_finished()
        stop = optuna.study.MaxTrialsCallback(target, states=queries.FINISHED)
    budget = None
    if deadline is not None:
        budget = TimeBudget(deadline, study.method, time.time(), jobs, reserve=reserve)
        study.last_budget = budget
        left = deadline - time.time()  # the reserve is held back by the callback, once a trial has set the pace
        timeout = min(timeout, left) if timeout is not None else left
        if timeout <= 0:
            budget.stopped_by_budget = True
            return budget
    study.objective.hooks.time_left = None if budget is None else _time_left(budget, study.optuna_study)
    study.method.time_budget_mode(study.optuna_study.sampler, budget is not None)
    reap = StaleTrials(study.lock)
    reap(study.optuna_study)  # a dead worker's trials, before this one adds its own
    try:
        with torch_threads(threads):
            study.optuna_study.optimize(
                study.objective,
                n_trials=remaining,
                timeout=timeout,
                callbacks=[
                    AfterTrial([stop, study.inspector, reap, *([budget] if budget else []), *(callbacks or [])])
                ],
                catch=(),
            )
        reap(study.optuna_study)  # a worker that stopped while this one ran its last trial
    except BaseException as exc:
        if not _interrupted(exc):
            raise
        retry_interrupted(study.optuna_study, study.objective.entered)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise KeyboardInterrupt from None  # the error Optuna raised while it handled the interrupt is moot
    return budget


def _interrupted(exc: BaseException | None) -> bool:
    """Whether ``exc`` is Ctrl-C or was raised while Ctrl-C was being handled: Optuna 5.0's trial loop,
    interrupted while it records a result, raises ``UnboundLocalError`` from its ``finally`` block."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__context__
    return False


def retry_interrupted(optuna_study: optuna.Study, entered: set[int]) -> list[int]:
    """After Ctrl-C: fail and retry this process's trials that it left RUNNING (the interrupt landed while
    Optuna recorded a result, outside the objective's own handling); a second Ctrl-C waits until done.
    Without this a database keeps such a trial RUNNING until its heartbeat's grace period has passed."""
    done = []
    with interrupts_held():
        trials = optuna_study.get_trials(deepcopy=False)
        retried = {retried_from(t) for t in trials}  # the objective retries a trial it sees interrupted
        for trial in trials:
            if trial.state != optuna.trial.TrialState.RUNNING or trial.number not in entered or trial.number in retried:
                continue
            try:
                if optuna_internals.fail_running(optuna_study, trial):
                    retry(optuna_study, trial)
                    done.append(trial.number)
            except optuna.exceptions.UpdateFinishedTrialError:  # finished meanwhile
                continue
    return done


def _time_left(budget: TimeBudget, optuna_study: optuna.Study) -> Callable[[], float]:
    """Seconds from now to ``budget``'s search deadline (the deadline less the delivery reserve)."""
    return lambda: budget.search_deadline(optuna_study) - time.time()


class AfterTrial:
    """Optuna callbacks run in order after each trial, their reads of finished trials answered by one
    storage read, or by none where this process saw no other worker's trial running
    (`optuna_internals.finished_trials_read_once` with the trial just finished)."""

    def __init__(self, callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]]) -> None:
        self.callbacks = callbacks

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        with optuna_internals.finished_trials_read_once(study, finished=trial):
            for callback in self.callbacks:
                callback(study, trial)


class StaleTrials:
    """Called before and after a run and as an Optuna callback: fails and retries trials of dead workers
    (`automm.store.liveness.fail_stale`). After each trial only on a journal storage: on a database,
    Optuna's heartbeat check does it as each trial starts."""

    def __init__(self, lock_dir: Any) -> None:
        self.lock_dir = lock_dir

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> None:
        if trial is not None and not needs_own_mark(optuna_internals.storage_of(study)):
            return
        failed = fail_stale(study, self.lock_dir)
        if failed:
            logger.warning("trial(s) %s of a worker that stopped are failed and retried", failed)


def work(spec: WorkerSpec, open_study: Callable[..., RunnableStudy]) -> None:
    """A worker process's life: open the study (``open_study``: the `Study` class), run its trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(
        spec.dataset,
        data=spec.data,
        data_dir=spec.data_dir,
        storage=spec.storage,
        study_name=spec.study_name,
        runs_dir=spec.runs_dir,
        artifact_dir=spec.artifact_dir,
        device=spec.device,
    )
    with contextlib.suppress(KeyboardInterrupt):  # the trial is failed and kept; the caller reports it
        run_trials(
            study, spec.n_trials, deadline=spec.deadline, threads=spec.threads, jobs=spec.jobs, reserve=spec.reserve
        )


def start_workers(spec: WorkerSpec, jobs: int, open_study: Callable[..., RunnableStudy]) -> list[BaseProcess]:
    """Spawn ``jobs - 1`` worker processes on ``spec``'s study."""
    if jobs < 1:
        raise AutommError(f"{option('jobs')} must be at least 1, got {jobs}")
    context = mp.get_context("spawn")
    workers = []
    for _ in range(jobs - 1):
        worker = context.Process(target=work, args=(spec, open_study), daemon=False)
        worker.start()
        workers.append(worker)
    return workers


def wait_for_workers(workers: list[BaseProcess]) -> None:
    """Wait for every worker; a worker that failed is reported as one error line."""
    for worker in workers:
        worker.join()
    failed = [w.exitcode for w in workers if w.exitcode not in (0, None)]
    if failed:
        raise AutommError(f"{len(failed)} of {len(workers)} parallel jobs failed (exit codes {failed}); see above")


def stop_workers(workers: list[BaseProcess]) -> None:
    """Forward Ctrl-C to the workers still running, wait for them, terminate the ones that hang."""
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            os.kill(worker.pid, signal.SIGINT)
    for worker in workers:
        worker.join(JOIN_SECONDS)
        if worker.is_alive():
            worker.terminate()
            worker.join()


def storage_url(storage: Any) -> str:
    """The storage as a string a worker can open; an in-process storage object cannot be shared."""
    if isinstance(storage, str):
        return storage
    raise AutommError(
        "parallel jobs need the storage as a URL or journal:PATH (an in-memory or storage object cannot be shared)"
    )


def as_path(value: str | Path | None) -> str | None:
    return None if value is None else str(value)


def run_jobs(
    study: RunnableStudy,
    jobs: int,
    n_trials: int | None,
    *,
    timeout: float | None,
    deadline: float | None,
    threads: int | None,
    callbacks: Any,
    reserve: DeliveryReserve | None = None,
) -> None:
    """Run ``study``'s trials in ``jobs`` processes: ``jobs - 1`` workers and this one."""
    workers: list[BaseProcess] = []
    if jobs > 1 and not study.method_done(n_trials):
        dataset, data, data_dir, storage, runs_dir = study.opened_as
        spec = WorkerSpec(
            dataset=study.dataset if isinstance(dataset, MultimodalDataset) else dataset,
            data=as_path(data),
            data_dir=as_path(data_dir),
            storage=storage_url(storage),
            study_name=study.study_name,
            runs_dir=str(runs_dir),
            artifact_dir=str(study.artifact_dir),
            device=str(study.device),
            n_trials=n_trials,
            deadline=deadline,
            threads=threads,
            jobs=jobs,
            reserve=reserve,
        )
        workers = start_workers(spec, jobs, type(study))
    try:
        run_trials(
            study,
            n_trials,
            timeout=timeout,
            deadline=deadline,
            threads=threads,
            callbacks=callbacks,
            jobs=jobs,
            reserve=reserve,
        )
    except BaseException:
        stop_workers(workers)
        raise
    wait_for_workers(workers)
