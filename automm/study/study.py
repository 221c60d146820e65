"""`automm.Study`: create, resume and run an Optuna study over fusion architectures for one data set.

The data source, split seed, method (``sampler`` in the stored settings), its settings, the
shared `SearchConfig` and the pruner are stored in the study's user attributes when it is
created; opening the same study again (same storage and name) resumes it with all of them,
so an interrupted search continues where it stopped. Shared weights (knowledge-base versions,
MFAS's layer bank) and diagrams live in an Optuna artifact store (default
``<runs_dir>/<study_name>_artifacts``); workers that share a study must share that folder too.
Queries are in `automm.search.queries`, the delivered model in `automm.delivery.final_trainer`.
"""

from __future__ import annotations

import functools
import json
import time
import warnings
from html import escape
from pathlib import Path
from typing import Any

import optuna
import torch

from automm.core import keys
from automm.core.device import default_device
from automm.core.errors import AutommError
from automm.core.log import logger, optuna_in_step
from automm.core.metrics import PRIMARY_METRIC
from automm.core.threads import choose_threads, torch_threads
from automm.data.dataset import MultimodalDataset
from automm.data.registry import load_dataset
from automm.data.tokens import pooled
from automm.delivery.evaluation import Evaluation
from automm.delivery.final_trainer import FinalTrainer
from automm.delivery.onnx_export import export_seconds
from automm.engine.fold_data import FoldData
from automm.engine.linear_net import LinearGenotype, is_linear
from automm.inspection.dashboard import Inspector
from automm.methods import SearchContext, SearchMethod
from automm.methods.hyperparams import TunedSpace, method_space, resolve
from automm.search import queries
from automm.search.budget import (
    DEFAULT_TIME_BUDGET,
    MEMBERS_EXPECTED,
    ONE_SPLIT_REFIT,
    DeliveryReserve,
    TimeBudget,
    parse_duration,
)
from automm.search.first_tries import rank_views
from automm.search.jobs import run_jobs
from automm.search.objective import FusionObjective
from automm.search.queries import StudyQueries
from automm.search.trial_log import TrialLog
from automm.settings import SearchConfig, has_preset
from automm.store.artifact_stores import artifact_location, artifact_store, shared_lock
from automm.store.artifacts import creation_lock
from automm.store.liveness import fail_stale
from automm.store.storages import (
    StorageLike,
    automm_meta,
    create_or_join,
    existing_storage,
    file_name,
    find_summary,
    open_storage,
    removed_if_refused,
    settled_summary,
    stored_source,
)
from automm.study.delivering import StudyDelivery
from automm.study.stored_settings import PRUNERS, check_views, data_source, make_pruner, new_meta, resumed_meta

__all__ = ["PRUNERS", "Evaluation", "Study"]


class Study(StudyQueries, StudyDelivery):
    """Create or resume a fusion-architecture search.

    ``dataset`` is a registered name (default ``digits``) or a `MultimodalDataset`; ``data`` a
    `.mat`/`.npz` file or `.npy` folder instead; ``views`` names its views in order (a list or a comma-separated
    string of ``modality/feature`` names; stored). ``storage`` defaults to
    ``sqlite:///<runs_dir>/<study_name>.db`` and ``study_name`` to the data set's name. ``method``
    (alias ``sampler``; default ``ksnas``, see `automm.methods.METHODS`), ``seed``, ``config`` (or just
    its ``folds``, ``ensemble_size``, ``tune`` and ``ops``, the fusion operators), ``pruner`` and
    ``minimize_params`` default to the stored values when resuming (to the preset when new). Further
    keywords (``ksnas=``, ``knowledge=``, ``knowledge_sharing=``, ``mfas=``, ``bmnas=``, ``nsga2=``, or all
    of them as ``settings={section: ...}``)
    override sections of the method's settings: a dataclass, a dict of a few fields, or a plain value;
    ``options`` does the same by command-line option name (``{"population": 8}``, see
    `SearchMethod.options`).
    A value that contradicts the stored one, or a setting the method does not have, raises `AutommError`.
    """

    def __init__(
        self,
        dataset: str | MultimodalDataset | None = None,
        *,
        data: str | Path | None = None,
        data_dir: str | Path | None = None,
        views: list[str] | tuple[str, ...] | str | None = None,
        method: str | None = None,
        sampler: str | None = None,
        storage: StorageLike | None = None,
        study_name: str | None = None,
        seed: int | None = None,
        config: SearchConfig | None = None,
        folds: int | None = None,
        ensemble_size: int | None = None,
        tune: list[str] | tuple[str, ...] | None = None,
        ops: list[str] | tuple[str, ...] | str | None = None,
        pruner: str | None = None,
        minimize_params: bool | None = None,
        settings: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        runs_dir: str | Path = "runs",
        artifact_dir: str | Path | None = None,
        device: str | torch.device | None = None,
        **sections: Any,
    ) -> None:
        if method is not None and sampler is not None and method.lower() != sampler.lower():
            raise AutommError(f"method {method!r} and sampler {sampler!r} name different methods; give one")
        method = method or sampler
        name, source = data_source(dataset, data, None if views is None else _names(views))
        self.study_name = study_name or name
        self.has_preset = has_preset(name)  # without one, a search gets a default time budget
        if storage is None:
            Path(runs_dir).mkdir(parents=True, exist_ok=True)
            storage = f"sqlite:///{Path(runs_dir) / file_name(self.study_name)}.db"
        self.opened_as = (dataset, data, data_dir, storage, runs_dir)  # what a parallel job opens it with
        self.storage_url = storage if isinstance(storage, str) else type(storage).__name__  # for display
        with removed_if_refused(storage):  # a refused run leaves no empty study file behind
            self.storage = open_storage(storage)
            self.artifact_dir = artifact_location(artifact_dir, Path(runs_dir) / f"{self.study_name}_artifacts")
            self.lock = shared_lock(self.artifact_dir, self.storage, self.study_name, Path(runs_dir))

            summary = find_summary(self.storage, self.study_name)
            described = summary is not None and keys.META in summary.user_attrs
            with creation_lock(self.lock, needed=not described):  # creation and description are one step
                if not described:
                    summary = settled_summary(self.storage, self.study_name)  # without a lock: a short wait
                stored = automm_meta(summary) if summary is not None else None
                requested = {
                    "source": source,
                    "seed": seed,
                    "sampler": method.lower() if method else None,
                    "pruner": pruner,
                    "config": config.to_dict() if config is not None else None,
                    "config_fields": {
                        "folds": folds,
                        "ensemble_size": ensemble_size,
                        "tune": None if tune is None else list(tune),
                        "ops": None if ops is None else _names(ops),
                    },
                    "minimize_params": minimize_params,
                }
                overrides = {**(settings or {}), **sections}
                if stored is None:
                    cls, meta = new_meta(name, requested, overrides, options)
                else:
                    cls, meta = resumed_meta(self.study_name, stored, requested, overrides, options)
                self.method: SearchMethod = cls({k: meta[k] for k in cls.sections})
                self.seed: int = int(meta["seed"])
                self.sampler_name: str = cls.name
                self.pruner_name: str = meta["pruner"]
                self.config = SearchConfig.from_dict({**meta["config"], "ops": tuple(meta["config"]["ops"])})
                self.preset_trials: int = int(meta.get("preset_trials", 30))
                self.minimize_params: bool = bool(meta.get("minimize_params", False))

                given = meta["source"]
                if not isinstance(dataset, MultimodalDataset):
                    dataset = load_dataset(
                        given["dataset"],
                        data=given["data"],
                        data_dir=data_dir,
                        seed=self.seed,
                        views=given.get("views"),
                    )
                self.dataset = dataset if self.method.uses_tokens else pooled(dataset)  # vectors: tokens mean-pooled
                check_views(self.study_name, meta, dict(self.dataset.view_dims))
                self.space = self.method.make_space(tuple(self.dataset.view_names), self.config)
                if self.config.tune:
                    if not self.method.tunes_settings:
                        raise AutommError(
                            f"method {self.method.name} cannot search training settings (tune); use ksnas, tpe, ..."
                        )
                    self.space = TunedSpace(self.space, self.config)
                self.device = torch.device(device) if device is not None else default_device()
                self.metric = PRIMARY_METRIC[self.dataset.task]
                n_existing = 0 if summary is None else summary.n_trials
                sampler = self.method.make_sampler(self.space, self.seed, n_existing, self.lock)
                directions = ["maximize", "minimize"] if self.minimize_params else ["maximize"]
                with optuna_in_step():  # no "A new study created" INFO line
                    self.optuna_study, joined = create_or_join(
                        self.storage,
                        self.study_name,
                        directions,
                        sampler,
                        make_pruner(self.pruner_name),
                        stored is None,
                    )
                if joined is not None:  # another worker created it just now: its settings must be ours
                    stored = automm_meta(joined)
                    if stored != json.loads(json.dumps(meta)):
                        raise AutommError(
                            f"another worker created study {self.study_name!r} just now with other settings; "
                            "start every worker with the same command"
                        )
                if stored is None:
                    self.optuna_study.set_user_attr(keys.META, meta)
                    self.optuna_study.set_user_attr(keys.DATASET_SUMMARY, self.dataset.summary())
                    self.optuna_study.set_user_attr(keys.METRIC, self.metric)
                    with warnings.catch_warnings():  # set_metric_names is marked experimental
                        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                        names = [self.metric, "parameters"] if self.minimize_params else [self.metric]
                        self.optuna_study.set_metric_names(names)
                    self._enqueue_baselines()
            if stored is not None:  # a dead worker's trials are failed and retried on every open
                failed = fail_stale(self.optuna_study, self.lock)
                if failed:
                    logger.warning("trial(s) %s of a worker that stopped are failed and retried", failed)
            self.inspector = Inspector(
                self.optuna_study, self.method, self.dataset, self.metric, self.artifact_store, self.diagram
            )
            self._objective: FusionObjective | None = None
            self._final: FinalTrainer | None = None
            self.last_budget: TimeBudget | None = None  # the time budget of the last `run_trials`, if any

    def _enqueue_baselines(self) -> None:
        """Put what a user tries first (the method's `baseline_genotypes`) in the first trials."""
        splits = self.dataset.splits
        ranked = rank_views(self.dataset, splits.train, splits.val, seed=self.seed)
        for name, genotype in self.method.baseline_genotypes(self.space, ranked):
            self.optuna_study.enqueue_trial(self.space.encode(genotype), user_attrs={keys.BASELINE: name})

    # -- storage and context -----------------------------------------------------------------------
    @functools.cached_property
    def artifact_store(self) -> Any:
        """The study's artifact store, made once (an S3 store holds a client)."""
        return artifact_store(self.artifact_dir)

    @functools.cached_property
    def fold_data(self) -> FoldData:
        """The study's folds and their tensors, made once and shared by the search, the linear
        candidate and delivery."""
        return FoldData(self.dataset, self.config.folds, self.seed, self.device)

    @property
    def context(self) -> SearchContext:
        return SearchContext(
            self.optuna_study,
            self.artifact_store,
            self.lock,
            self.dataset,
            self.config,
            self.seed,
            self.device,
            self.fold_data,
        )

    # -- search ------------------------------------------------------------------------------------
    @property
    def objective(self) -> FusionObjective:
        if self._objective is None:
            obj = FusionObjective(
                self.dataset,
                self.method,
                self.space,
                self.config,
                seed=self.seed,
                device=self.device,
                minimize_params=self.minimize_params,
                on_genotype=self.inspector.attach_diagram,
                artifact_store=self.artifact_store,
                fold_data=self.fold_data,
                lock_dir=self.lock,
            )
            obj.hooks = self.method.hooks(self.context, method_space(self.space), obj.train_data)
            self._objective = obj
        return self._objective

    @property
    def default_trials(self) -> int:
        """The method's own schedule (N x T for KS-NAS), else the preset's trial count."""
        return self.method.default_trials(self.space, self.preset_trials)

    def n_finished(self) -> int:
        return queries.n_finished(self.optuna_study)

    def optimize(
        self,
        n_trials: int | None = None,
        *,
        timeout: float | None = None,
        time_budget: float | str | None = None,
        jobs: int = 1,
        threads: int | None = None,
        callbacks: Any = None,
        reserve_delivery: bool = True,
    ) -> Study:
        """Run the search until it is done; a re-run of an interrupted search finishes it.

        With ``n_trials``, done means the study holds ``n_trials`` finished trials (parallel
        workers may finish one trial each past it). Without it, done is the method's own rule
        (KS-NAS: generation T-1 holds N completed individuals), else the default trial count.
        ``time_budget`` (seconds, or ``"10m"``, ``"2h"``) stops it earlier, where the next unit
        (KS-NAS: a generation) would end past the budget (`automm.search.budget`; default: none with a
        preset or ``n_trials``, `DEFAULT_TIME_BUDGET` otherwise; ``"none"``: no limit). The budget is meant
        for the search and the delivery after it (`deliver`): with ``reserve_delivery`` the search holds
        back delivery's predicted seconds (`automm.search.budget.DeliveryReserve`); ``timeout`` stops
        starting trials after that many seconds. ``jobs`` runs that many trials at once, in
        processes that share the storage (`automm.search.jobs`); ``threads`` sets torch's threads per
        job (default: `automm.core.threads.choose_threads`). Ctrl-C marks the running trials failed
        and stops; the trials finished so far stay in the storage. The linear candidate the ensemble may
        draw on is chosen first (its seconds count in the budget); afterwards the ensemble is chosen.
        """
        if n_trials is not None and n_trials < 1:
            raise AutommError(f"the number of trials must be at least 1, got {n_trials}")
        if jobs < 1:
            raise AutommError(f"jobs must be at least 1, got {jobs}")
        if time_budget is None and n_trials is None and not self.has_preset:
            time_budget = DEFAULT_TIME_BUDGET
        unbounded = time_budget is None or time_budget == "none"
        deadline = None if unbounded else time.time() + parse_duration(time_budget)  # type: ignore[arg-type]
        work = self.method.batch_work(self.dataset, self.config)
        per_job = choose_threads(threads, jobs, work)
        logger.info("%s", self.progress_line(n_trials))
        with optuna_in_step():
            if self.config.ensemble_size > 1 and self.artifact_store is not None:
                with torch_threads(choose_threads(threads, 1, work)):  # first: inside the budget, ready for every job
                    self.final.linear_candidate()
            run = [TrialLog(self.metric), *(callbacks or [])]
            reserve = self._delivery_reserve() if deadline is not None and reserve_delivery else None
            run_jobs(
                self,
                jobs,
                n_trials,
                timeout=timeout,
                deadline=deadline,
                threads=per_job,
                callbacks=run,
                reserve=reserve,
            )
            if self.config.ensemble_size > 1 and queries.completed(self.optuna_study):
                with torch_threads(per_job if jobs == 1 else choose_threads(threads, 1, work)):
                    # stored in the study: the note, the report and `export` show it
                    self.final.ensemble(finish=self.method.finishes_members(deadline is not None))
        self.inspector.refresh()
        return self

    def _delivery_reserve(self) -> DeliveryReserve:
        """What delivering this study's model is predicted to cost, held back from a time budget."""
        folds = len(self.fold_data)
        members = min(self.config.ensemble_size, MEMBERS_EXPECTED)
        return DeliveryReserve(
            members=members,
            refit=1.0 if folds > 1 else ONE_SPLIT_REFIT,
            fixed=export_seconds(members * folds),  # each member a bag of its fold networks
            reuses_kept=folds > 1 and self.method.keeps_fold_networks,
            patience=self.config.patience,
            scratch_floor=self.method.scratch_epochs_floor(),
            finish_patience=self.config.patience if self.method.finishes_members(True) else 0,
        )

    def progress_line(self, n_trials: int | None = None) -> str:
        """Where the study stands before a run: new, resumed (and how far it is) or already complete."""
        done, target = self.n_finished(), self.default_trials if n_trials is None else n_trials
        plan = self.method.plan(target)
        plan = f" ({plan})" if plan else ""
        if done == 0:
            return f"new study {self.study_name!r}: {target} trial{'s' * (target != 1)} planned{plan}"
        if self.method_done(n_trials):
            return f"study {self.study_name!r} is already complete ({done} trials); ask for more trials to extend it"
        return f"resuming study {self.study_name!r}: {done} of {target} trials done{plan}"

    def method_done(self, n_trials: int | None) -> bool:
        """Whether the search is already complete (by the method's rule, or holding ``n_trials``)."""
        done = self.method.is_done(self.optuna_study) if n_trials is None else None
        if done is not None:
            return done
        target = self.default_trials if n_trials is None else n_trials
        return self.n_finished() >= target

    def stop_when_done(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """An Optuna callback: stop the optimisation once the method's own rule says the search is complete."""
        if self.method.is_done(study):
            study.stop()

    def diagram(self, genotype: Any) -> str:
        """The SVG diagram of a candidate's network (with its searched settings, if any); the linear
        candidate's is one line of HTML."""
        if is_linear(genotype):
            views = ", ".join(escape(v) for v in LinearGenotype.parse(str(genotype)).views)
            return f"<p>logistic regression on the concatenated standardised views: {views}</p>"
        space, inner, settings = resolve(self.space, genotype, self.config)
        return self.method.diagram(space, inner, self.dataset.view_dims, settings)

    @classmethod
    def load(
        cls,
        study_name: str,
        *,
        storage: StorageLike | None = None,
        runs_dir: str | Path = "runs",
        data_dir: str | Path | None = None,
        artifact_dir: str | Path | None = None,
        device: str | torch.device | None = None,
    ) -> Study:
        """Open an existing study by name with everything it stored (data source, settings, method)."""
        storage = open_storage(existing_storage(study_name, storage, runs_dir))
        source = stored_source(storage, study_name)
        return cls(
            source["dataset"],
            data=source["data"],
            data_dir=data_dir,
            storage=storage,
            study_name=study_name,
            runs_dir=runs_dir,
            artifact_dir=artifact_dir,
            device=device,
        )


def _names(value: list[str] | tuple[str, ...] | str) -> list[str]:
    """A list of names from a list or a comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value
    return [str(v).strip() for v in items if str(v).strip()]
