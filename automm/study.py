"""`automm.Study`: an Optuna study over fusion architectures for one data set.

The data set source, split seed, search settings, sampler (with its KS-NAS and knowledge-base
settings) and pruner are stored in the study's user attributes when it is created; opening
the same study again (same storage and name) resumes it with all of them, so an interrupted
search continues where it stopped. Knowledge-base versions and the weights waiting for the
next version live in an Optuna artifact store (default ``<runs_dir>/<study_name>_artifacts``);
workers that share a study must share that directory too.
"""

from __future__ import annotations

import json
import statistics
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore

from automm._version import __version__
from automm.config import SearchConfig, load_preset
from automm.data.dataset import MultimodalDataset
from automm.data.preprocess import Standardizer
from automm.data.registry import load_dataset
from automm.errors import AutommError
from automm.export import export_model
from automm.inspection import Inspector
from automm.knowledge import KnowledgeBase, KnowledgeSettings, LayerBank, pretrain_supernet, warm_start
from automm.metrics import PRIMARY_METRIC, all_metrics
from automm.objective import ATTR_GENOTYPE, FusionObjective, genotype_seed, score_of
from automm.samplers import DEFAULT_SAMPLER, KSNASSampler, KSNASSettings, make_sampler, trial_generation
from automm.samplers.mfas import MFASSettings
from automm.space import Genotype, SearchSpace
from automm.space_mfas import MFASGenotype, MFASSpace
from automm.training import TensorData, default_device, fit, predict_logits

AnyGenotype = Genotype | MFASGenotype

META_KEY = "automm"
EVALUATION_KEY = "evaluation"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
PRUNERS = ("none", "median")


@dataclass(frozen=True)
class Evaluation:
    """Test scores of one genotype retrained on train+validation, over several seeds."""

    genotype: str
    metric: str
    scores: list[float]
    mean: float
    std: float
    epochs: int
    warm_started: bool
    details: list[dict[str, float]]


def open_storage(storage: str | optuna.storages.BaseStorage) -> str | optuna.storages.BaseStorage:
    """An Optuna storage; ``journal:PATH`` opens a journal file that parallel workers can share."""
    if isinstance(storage, str) and storage.startswith("journal:"):
        path = Path(storage.removeprefix("journal:").removeprefix("//")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return storage


def existing_storage(
    study_name: str, storage: str | optuna.storages.BaseStorage | None, runs_dir: str | Path
) -> str | optuna.storages.BaseStorage:
    """``storage``, or the default SQLite file of ``study_name`` in ``runs_dir``, which must exist."""
    if storage is not None:
        return storage
    path = Path(runs_dir) / f"{study_name}.db"
    if not path.is_file():
        raise AutommError(f"no study storage at {path}; pass --storage or --runs-dir")
    return f"sqlite:///{path}"


def find_summary(storage: str | optuna.storages.BaseStorage, study_name: str) -> optuna.study.StudySummary | None:
    """The summary of ``study_name`` in ``storage``, or None; an unopenable storage is a user error."""
    try:
        summaries = optuna.get_all_study_summaries(storage)
    except Exception as exc:  # optuna/sqlalchemy raise many types for a bad URL
        raise AutommError(f"cannot open storage {storage!r}: {exc}") from exc
    return next((s for s in summaries if s.study_name == study_name), None)


def _automm_meta(summary: optuna.study.StudySummary) -> dict[str, Any]:
    meta = summary.user_attrs.get(META_KEY)
    if meta is None:
        raise AutommError(f"study {summary.study_name!r} was not made by automm")
    return meta


def _make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    raise AutommError(f"unknown pruner {name!r}; known: {', '.join(PRUNERS)}")


class Study:
    """Create or resume a fusion-architecture search.

    ``dataset`` is a registered name (default ``digits``) or a `MultimodalDataset`; ``data`` a
    `.mat`/`.npz` file or `.npy` folder instead. ``storage`` defaults to ``sqlite:///<runs_dir>/<study_name>.db``
    and ``study_name`` to the data set's name. ``sampler`` (default ``ksnas``), ``seed``,
    ``config``, ``pruner``, ``ksnas``, ``knowledge`` and ``knowledge_sharing`` default to the
    stored values when resuming (to the preset when new); a value that contradicts the stored
    one raises `AutommError`. ``ksnas`` and ``knowledge`` may be dicts of a few settings that
    override the preset's (or the stored) ones.
    """

    def __init__(
        self,
        dataset: str | MultimodalDataset | None = None,
        *,
        data: str | Path | None = None,
        data_dir: str | Path | None = None,
        sampler: str | None = None,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        seed: int | None = None,
        config: SearchConfig | None = None,
        pruner: str | None = None,
        ksnas: KSNASSettings | dict[str, Any] | None = None,
        knowledge: KnowledgeSettings | dict[str, Any] | None = None,
        knowledge_sharing: bool | None = None,
        minimize_params: bool | None = None,
        mfas: MFASSettings | dict[str, Any] | None = None,
        runs_dir: str | Path = "runs",
        artifact_dir: str | Path | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        if isinstance(dataset, MultimodalDataset):
            name = dataset.name
            source: dict[str, Any] = {"dataset": name, "data": None, "in_memory": True}
        elif data is not None:
            name = Path(data).stem
            source = {"dataset": None, "data": str(Path(data).expanduser().resolve()), "in_memory": False}
        else:
            name = (dataset or "digits").lower()
            source = {"dataset": name, "data": None, "in_memory": False}
        self.study_name = study_name or name
        if storage is None:
            Path(runs_dir).mkdir(parents=True, exist_ok=True)
            storage = f"sqlite:///{Path(runs_dir) / self.study_name}.db"
        self.storage = open_storage(storage)
        self.artifact_dir = Path(artifact_dir or Path(runs_dir) / f"{self.study_name}_artifacts")

        summary = find_summary(self.storage, self.study_name)
        stored = _automm_meta(summary) if summary is not None else None
        requested = {
            "source": source,
            "seed": seed,
            "sampler": sampler,
            "pruner": pruner,
            "config": config.to_dict() if config is not None else None,
            "ksnas": _as_dict(ksnas),
            "knowledge": _as_dict(knowledge),
            "knowledge_sharing": knowledge_sharing,
            "minimize_params": minimize_params,
            "mfas": _as_dict(mfas),
        }
        if stored is None:
            preset = load_preset(name)
            meta = {
                "source": source,
                "seed": 0 if seed is None else seed,
                "sampler": (sampler or DEFAULT_SAMPLER).lower(),
                "pruner": pruner or "none",
                "config": (config or preset.config).to_dict(),
                "ksnas": {**preset.ksnas.to_dict(), **(_as_dict(ksnas) or {})},
                "knowledge": {**asdict(preset.knowledge), **(_as_dict(knowledge) or {})},
                "knowledge_sharing": True if knowledge_sharing is None else knowledge_sharing,
                "minimize_params": bool(minimize_params),
                "mfas": {**MFASSettings().to_dict(), **(_as_dict(mfas) or {})},
                "preset_trials": preset.trials,
            }
        else:
            meta = stored
            _check_resume(self.study_name, stored, requested)
        self.seed: int = int(meta["seed"])
        self.sampler_name: str = meta["sampler"]
        self.pruner_name: str = meta["pruner"]
        self.config = SearchConfig.from_dict({**meta["config"], "ops": tuple(meta["config"]["ops"])})
        self.ksnas = KSNASSettings(**meta["ksnas"])
        self.knowledge_settings = KnowledgeSettings(**meta["knowledge"])
        self.knowledge_sharing: bool = bool(meta["knowledge_sharing"]) and self.sampler_name == "ksnas"
        self.preset_trials: int = int(meta.get("preset_trials", 30))
        self.minimize_params: bool = bool(meta.get("minimize_params", False))
        self.mfas = MFASSettings(**meta.get("mfas", {}))

        if isinstance(dataset, MultimodalDataset):
            self.dataset = dataset
        else:
            self.dataset = load_dataset(source["dataset"], data=source["data"], data_dir=data_dir, seed=self.seed)
        views = dict(self.dataset.view_dims)
        if "views" in meta and meta["views"] != views:
            raise AutommError(
                f"study {self.study_name!r} was created for views {', '.join(meta['views'])}, but the data now has "
                f"{', '.join(views)} (another release, extractor or file?); choose another --study-name"
            )
        meta["views"] = views
        self.space: SearchSpace | MFASSpace
        if self.sampler_name == "mfas":
            self.space = MFASSpace(tuple(self.dataset.view_names), self.mfas.max_layers, hidden=self.mfas.hidden)
        else:
            self.space = SearchSpace(tuple(self.dataset.view_names), self.config.max_views, self.config.ops)
        self.device = torch.device(device) if device is not None else default_device()
        self.metric = PRIMARY_METRIC[self.dataset.task]

        # A resumed study re-creates its sampler. KS-NAS seeds each trial by its number; other
        # samplers get a seed moved on by the trial count so they do not replay their proposals.
        n_existing = 0 if summary is None else summary.n_trials
        sampler_seed = self.seed if self.sampler_name == "ksnas" else self.seed + n_existing
        self.optuna_study = optuna.create_study(
            storage=self.storage,
            study_name=self.study_name,
            directions=["maximize", "minimize"] if self.minimize_params else ["maximize"],
            load_if_exists=True,
            sampler=make_sampler(self.sampler_name, sampler_seed, self.space, self.ksnas, self.mfas),
            pruner=_make_pruner(self.pruner_name),
        )
        if stored is None:
            self.optuna_study.set_user_attr(META_KEY, meta)
            self.optuna_study.set_user_attr("dataset_summary", self.dataset.summary())
            self.optuna_study.set_user_attr("metric", self.metric)
            with warnings.catch_warnings():  # set_metric_names is marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.optuna_study.set_metric_names(
                    [self.metric, "parameters"] if self.minimize_params else [self.metric]
                )
        self.inspector = Inspector(self)
        self._objective: FusionObjective | None = None

    # -- storage -----------------------------------------------------------------------------
    @property
    def artifact_store(self) -> FileSystemArtifactStore:
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        return FileSystemArtifactStore(str(self.artifact_dir))

    # -- search ------------------------------------------------------------------------------
    @property
    def objective(self) -> FusionObjective:
        if self._objective is None:
            obj = FusionObjective(self.dataset, self.space, self.config, seed=self.seed, device=self.device)
            obj.minimize_params = self.minimize_params
            obj.on_genotype = self.inspector.attach_diagram
            if self.knowledge_sharing:
                obj.knowledge = self._knowledge_base(obj)
            if self.sampler_name == "mfas":  # E_train epochs per candidate, no early stopping
                obj.train_config = replace(obj.train_config, max_epochs=self.mfas.epochs, patience=self.mfas.epochs)
                if self.mfas.weight_sharing:
                    obj.layer_bank = LayerBank(self.optuna_study, self.artifact_store)
            self._objective = obj
        return self._objective

    def _knowledge_base(self, obj: FusionObjective) -> KnowledgeBase:
        sampler = self.optuna_study.sampler
        assert isinstance(sampler, KSNASSampler)
        settings = self.knowledge_settings
        return KnowledgeBase(
            self.optuna_study,
            self.artifact_store,
            make_supernet=obj.build_supernet,
            pretrain=lambda net: pretrain_supernet(
                net,
                self.space,
                obj.train_data,
                self.dataset.task,
                obj.train_config,
                epochs=settings.kb_epochs,
                seed=self.seed,
            ),
            settings=settings,
            population_size=self.ksnas.population_size,
            generation_of=trial_generation,
            parents_of=lambda g: sampler.get_parent_population(self.optuna_study, g),
        )

    @property
    def default_trials(self) -> int:
        """N x T for KS-NAS, the schedule's length for MFAS, the preset's trial count otherwise."""
        if self.sampler_name == "ksnas":
            return self.ksnas.population_size * self.ksnas.generations
        if self.sampler_name == "mfas":
            assert isinstance(self.space, MFASSpace)
            return self.mfas.total_trials(self.space)
        return self.preset_trials

    def n_finished(self) -> int:
        return len(self.optuna_study.get_trials(deepcopy=False, states=FINISHED))

    def optimize(
        self,
        n_trials: int | None = None,
        *,
        timeout: float | None = None,
        callbacks: list[Any] | None = None,
    ) -> Study:
        """Run the search until it is done; a re-run of an interrupted search finishes it.

        With ``n_trials``, done means the study holds ``n_trials`` finished trials (parallel
        workers may finish one trial each past it). Without it, KS-NAS is done when generation
        T-1 holds N completed individuals, other samplers at the preset's trial count.
        Stops early after ``timeout`` seconds. Ctrl-C marks the running trial failed and stops;
        the trials finished so far stay in the storage.
        """
        if n_trials is not None and n_trials < 1:
            raise AutommError(f"the number of trials must be at least 1, got {n_trials}")
        if n_trials is None and self.sampler_name == "ksnas":
            if self.generations_done():
                return self
            stop: Any = self._stop_after_last_generation
            remaining = None
        else:
            target = self.default_trials if n_trials is None else n_trials
            remaining = target - self.n_finished()
            if remaining <= 0:
                return self
            stop = optuna.study.MaxTrialsCallback(target, states=FINISHED)
        self.optuna_study.optimize(
            self.objective,
            n_trials=remaining,
            timeout=timeout,
            callbacks=[stop, self.inspector, *(callbacks or [])],
            catch=(),
        )
        self.inspector.refresh()
        return self

    def generations_done(self) -> bool:
        """Whether generation T-1 holds N completed individuals (KS-NAS)."""
        last = self.ksnas.generations - 1
        complete = self.optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        return sum(1 for t in complete if (trial_generation(t) or 0) >= last) >= self.ksnas.population_size

    def _stop_after_last_generation(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.generations_done():
            study.stop()

    # -- results -----------------------------------------------------------------------------
    @property
    def best_trial(self) -> optuna.trial.FrozenTrial:
        """The completed trial with the best validation score (fewer parameters, then earlier, on ties)."""
        complete = self.optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            raise AutommError(f"study {self.study_name!r} has no completed trial yet; run a search first")
        return max(complete, key=lambda t: (score_of(t), -(t.user_attrs.get("n_params") or 0), -t.number))

    @property
    def best_value(self) -> float:
        value = score_of(self.best_trial)
        assert value is not None
        return value

    def pareto_front_numbers(self) -> set[int]:
        """Trial numbers on the (score, parameters) Pareto front; empty for a single objective."""
        if not self.minimize_params:
            return set()
        return {t.number for t in self.optuna_study.best_trials}

    @property
    def best_genotype(self) -> Any:
        return self.space.parse(self.best_trial.user_attrs[ATTR_GENOTYPE])

    def trials_table(self, top: int | None = None) -> list[dict[str, Any]]:
        """Finished trials, best first: number, state, value, genotype, n_params, epochs, seconds."""
        rows = []
        for t in self.optuna_study.get_trials(deepcopy=False, states=FINISHED):
            rows.append(
                {
                    "number": t.number,
                    "state": t.state.name,
                    "value": score_of(t),
                    "genotype": t.user_attrs.get(ATTR_GENOTYPE),
                    "n_params": t.user_attrs.get("n_params"),
                    "epochs": t.user_attrs.get("epochs"),
                    "seconds": t.user_attrs.get("seconds"),
                    "generation": t.user_attrs.get("generation"),
                    "kb_version": t.user_attrs.get("kb_version"),
                }
            )
        rows.sort(key=lambda r: (r["state"] != "COMPLETE", -(r["value"] if r["value"] is not None else -np.inf)))
        return rows[:top] if top else rows

    def kb_versions(self) -> list[dict[str, Any]]:
        """Pointers of the stored knowledge-base versions (empty without knowledge sharing)."""
        return self.objective.knowledge.versions() if self.objective.knowledge is not None else []

    def generation_report(self) -> list[dict[str, Any]]:
        """Per generation: trials, best and mean score, epochs (total, mean), training seconds, KB version.

        The paper's Figure 3 is the ``epochs_mean`` column over generations.
        """
        groups: dict[int, list[optuna.trial.FrozenTrial]] = {}
        for t in self.optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            g = trial_generation(t)
            if g is not None:
                groups.setdefault(g, []).append(t)
        report = []
        for g in sorted(groups):
            trials = groups[g]
            values = [v for v in map(score_of, trials) if v is not None]
            epochs = [int(t.user_attrs.get("epochs") or 0) for t in trials if "duplicate_of" not in t.user_attrs]
            report.append(
                {
                    "generation": g,
                    "trials": len(trials),
                    "best": max(values),
                    "mean": float(np.mean(values)),
                    "epochs": sum(epochs),
                    "epochs_mean": float(np.mean(epochs)) if epochs else 0.0,
                    "seconds": round(sum(float(t.user_attrs.get("seconds") or 0.0) for t in trials), 3),
                    "kb_version": trials[0].user_attrs.get("kb_version"),
                    "contributors": sum(bool(t.user_attrs.get("kb_contributes")) for t in trials),
                }
            )
        return report

    def training_cost(self) -> dict[str, float]:
        """Total epochs and seconds spent training: individuals plus KB pretraining."""
        trials = self.optuna_study.get_trials(deepcopy=False, states=FINISHED)
        epochs = sum(int(t.user_attrs.get("epochs") or 0) for t in trials if "duplicate_of" not in t.user_attrs)
        seconds = sum(float(t.user_attrs.get("seconds") or 0.0) for t in trials)
        kb0 = next((p for p in self.kb_versions() if p["version"] == 0), None)
        pre_epochs = int(kb0.get("pretrain_epochs", 0)) if kb0 else 0
        pre_seconds = float(kb0.get("pretrain_seconds", 0.0)) if kb0 else 0.0
        return {
            "individual_epochs": epochs,
            "pretrain_epochs": pre_epochs,
            "epochs": epochs + pre_epochs,
            "individual_seconds": seconds,
            "pretrain_seconds": pre_seconds,
            "seconds": seconds + pre_seconds,
        }

    def _trial_of(self, genotype: AnyGenotype) -> optuna.trial.FrozenTrial | None:
        """The best completed trial of ``genotype`` (None if it was never evaluated)."""
        matches = [
            t
            for t in self.optuna_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.user_attrs.get(ATTR_GENOTYPE) == str(genotype)
        ]
        return max(matches, key=lambda t: (score_of(t), -t.number)) if matches else None

    def _final_recipe(self, genotype: AnyGenotype, start: str) -> tuple[dict[str, torch.Tensor] | None, int]:
        """(KB weights to start from or None, epochs) for training ``genotype`` on train+validation.

        ``start``: ``kb`` starts from the KB version its search trial used and trains for the
        epoch at which that trial's validation score peaked; ``scratch`` starts from random
        weights and trains for the epoch count early stopping finds from scratch on the train
        split; ``auto`` is ``kb`` when the trial was warm-started, else ``scratch``.
        """
        if start not in ("auto", "kb", "scratch"):
            raise AutommError(f"start must be auto, kb or scratch, got {start!r}")
        trial = self._trial_of(genotype)
        kb_version = trial.user_attrs.get("kb_version") if trial is not None else None
        if start == "kb" or (start == "auto" and kb_version is not None):
            if kb_version is None or self.objective.knowledge is None:
                raise AutommError(f"{genotype} was not trained from a knowledge base in this study")
            assert trial is not None
            kb_state, _ = self.objective.knowledge.load(int(kb_version))
            return kb_state, max(1, int(trial.user_attrs.get("best_epoch") or 1))
        if trial is not None and kb_version is None and self.sampler_name != "mfas":
            return None, max(1, int(trial.user_attrs.get("best_epoch") or 1))  # the search trained it from scratch
        # early stopping from scratch with the full training settings (MFAS searched with E_train epochs only)
        obj = self.objective
        net = obj.build(genotype)
        result = fit(
            net,
            obj.train_data,
            obj.val_data,
            self.dataset.task,
            self.config.train_config(),
            seed=genotype_seed(self.seed, genotype),
        )
        return None, max(1, result.best_epoch)

    def _final_data(self) -> tuple[Standardizer, TensorData, TensorData]:
        """Standardiser fitted on train+validation, and the train+validation and test tensors."""
        splits = self.dataset.splits
        if splits.test.size == 0:
            raise AutommError(f"data set {self.dataset.name!r} has no test split to evaluate on")
        fit_rows = np.concatenate([splits.train, splits.val])
        standardizer = Standardizer.fit(self.dataset.views, fit_rows)
        train = TensorData.from_dataset(self.dataset, fit_rows, standardizer, self.device)
        test = TensorData.from_dataset(self.dataset, splits.test, standardizer, self.device)
        return standardizer, train, test

    def _train_final(
        self,
        genotype: AnyGenotype,
        kb_state: dict[str, torch.Tensor] | None,
        epochs: int,
        seed: int,
        train: TensorData,
    ) -> torch.nn.Module:
        """Train ``genotype`` on the train+validation tensors for ``epochs`` epochs."""
        torch.manual_seed(seed)
        net = self.space.build_net(
            genotype, self.dataset.view_dims, self.dataset.n_classes, self.config.fusion_dim, self.config.dropout
        ).to(self.device)
        if kb_state is not None:
            warm_start(net, kb_state)
        fit(net, train, None, self.dataset.task, self.config.train_config(), seed=seed, epochs=epochs)
        return net

    def evaluate(self, seeds: int = 1, genotype: AnyGenotype | str | None = None, start: str = "auto") -> Evaluation:
        """Retrain a genotype (default: the best) on train+validation and score it on the test split.

        ``start`` is explained in `_final_recipe`. Mean and std over ``seeds`` runs; the result
        of the best genotype is stored in the study's user attributes under ``evaluation``.
        """
        if seeds < 1:
            raise AutommError(f"seeds must be at least 1, got {seeds}")
        is_best = genotype is None
        genotype = self.best_genotype if genotype is None else self.space.parse(str(genotype))
        kb_state, epochs = self._final_recipe(genotype, start)
        _, train, test = self._final_data()
        scores, details = [], []
        for s in range(seeds):
            seed = genotype_seed(self.seed + 1000 * (s + 1), genotype)
            net = self._train_final(genotype, kb_state, epochs, seed, train)
            metrics = all_metrics(
                predict_logits(net, test), test.labels.cpu().numpy(), self.dataset.task, self.config.threshold
            )
            details.append(metrics)
            scores.append(metrics[self.metric])
        result = Evaluation(
            genotype=str(genotype),
            metric=self.metric,
            scores=scores,
            mean=float(np.mean(scores)),
            std=float(statistics.pstdev(scores)) if len(scores) > 1 else 0.0,
            epochs=epochs,
            warm_started=kb_state is not None,
            details=details,
        )
        if is_best:
            self.optuna_study.set_user_attr(EVALUATION_KEY, json.loads(json.dumps(asdict(result))))
        return result

    def top_genotypes(self, k: int) -> list[AnyGenotype]:
        """The ``k`` best distinct genotypes by validation score."""
        out: list[AnyGenotype] = []
        for row in self.trials_table():
            if row["state"] == "COMPLETE" and row["genotype"] not in {str(g) for g in out}:
                out.append(self.space.parse(row["genotype"]))
            if len(out) == k:
                break
        return out

    def retrain(self, top: int = 1, seeds: int = 5) -> list[dict[str, Any]]:
        """Retrain the ``top`` genotypes chosen on validation data, from the KB (when they used one)
        and from scratch, and score each on the test split over ``seeds`` seeds.

        Returns one row per (genotype, start) and stores them under the study attribute ``retrain``.
        """
        if top < 1:
            raise AutommError(f"top must be at least 1, got {top}")
        rows = []
        for rank, genotype in enumerate(self.top_genotypes(top), start=1):
            trial = self._trial_of(genotype)
            starts = ["kb", "scratch"] if trial is not None and "kb_version" in trial.user_attrs else ["scratch"]
            for start in starts:
                ev = self.evaluate(seeds=seeds, genotype=genotype, start=start)
                rows.append(
                    {
                        "rank": rank,
                        "genotype": ev.genotype,
                        "val": score_of(trial) if trial else None,
                        "start": start,
                        "epochs": ev.epochs,
                        "metric": ev.metric,
                        "mean": ev.mean,
                        "std": ev.std,
                        "scores": ev.scores,
                    }
                )
        self.optuna_study.set_user_attr("retrain", rows)
        return rows

    def export(self, out_dir: str | Path, genotype: AnyGenotype | str | None = None, start: str = "auto") -> Path:
        """Train the genotype (default: the best) on train+validation and write it to ``out_dir``.

        The export (see `automm.export`) records the model's test score; `automm.load_model`
        reads it back.
        """
        genotype = self.best_genotype if genotype is None else self.space.parse(str(genotype))
        kb_state, epochs = self._final_recipe(genotype, start)
        standardizer, train, test = self._final_data()
        net = self._train_final(genotype, kb_state, epochs, genotype_seed(self.seed, genotype), train)
        metrics = all_metrics(
            predict_logits(net, test), test.labels.cpu().numpy(), self.dataset.task, self.config.threshold
        )
        info = {
            "space": self.space.kind,
            "hidden": getattr(self.space, "hidden", None),
            "study": self.study_name,
            "dataset": self.dataset.name,
            "metric": self.metric,
            "epochs": epochs,
            "started_from": "kb" if kb_state is not None else "scratch",
            "test_metrics": metrics,
            "automm_version": __version__,
        }
        return export_model(
            net,
            standardizer,
            out_dir,
            task=self.dataset.task,
            class_names=self.dataset.class_names,
            view_dims=self.dataset.view_dims,
            fusion_dim=self.config.fusion_dim,
            dropout=self.config.dropout,
            threshold=self.config.threshold,
            info=info,
        )

    @classmethod
    def load(
        cls,
        study_name: str,
        *,
        storage: str | optuna.storages.BaseStorage | None = None,
        runs_dir: str | Path = "runs",
        data_dir: str | Path | None = None,
        artifact_dir: str | Path | None = None,
        device: str | torch.device | None = None,
    ) -> Study:
        """Open an existing study by name with everything it stored (data source, settings, sampler)."""
        storage = open_storage(existing_storage(study_name, storage, runs_dir))
        summary = find_summary(storage, study_name)
        if summary is None:
            names = ", ".join(s.study_name for s in optuna.get_all_study_summaries(storage)) or "none"
            raise AutommError(f"no study {study_name!r} in the storage (studies there: {names})")
        source = _automm_meta(summary)["source"]
        if source["in_memory"]:
            raise AutommError(
                f"study {study_name!r} was made from an in-memory data set; open it with automm.Study(dataset, ...)"
            )
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


def _as_dict(settings: Any) -> dict[str, Any] | None:
    """Settings as a dict (a dataclass in full, a dict as given, None as None)."""
    if settings is None or isinstance(settings, dict):
        return settings
    return asdict(settings)


def _check_resume(name: str, stored: dict[str, Any], requested: dict[str, Any]) -> None:
    """Refuse to resume a study with settings that contradict the stored ones."""
    src, req = stored["source"], requested["source"]
    if (src["dataset"], src["data"]) != (req["dataset"], req["data"]):
        what = src["dataset"] or src["data"]
        raise AutommError(f"study {name!r} was created for data {what!r}; choose another --study-name")
    keys = ("seed", "sampler", "pruner", "config", "ksnas", "knowledge", "knowledge_sharing", "minimize_params", "mfas")
    for key in keys:
        wanted = requested[key]
        if isinstance(wanted, dict) and key in ("ksnas", "knowledge", "mfas"):
            wanted = {**stored[key], **wanted}
        if wanted is not None and wanted != stored.get(key):
            raise AutommError(
                f"study {name!r} was created with {key}={stored.get(key)!r}; resume it without changing {key}, "
                "or choose another --study-name"
            )
