"""The delivered model: retrain a chosen genotype on train+validation, score it on test, export it.

The choice is always made on validation data (search scores); the test split is turned into
tensors here, after the choice, and only scored.
"""

from __future__ import annotations

import functools
import json
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

from automm import attrs, results
from automm._version import __version__
from automm.activity import step
from automm.bagged import BaggedNet, combine
from automm.data.preprocess import Standardizer
from automm.ensemble import EnsembleChoice, choose_ensemble
from automm.errors import AutommError
from automm.evaluation import Evaluation, retrain_row
from automm.export import export_model
from automm.fold_models import fold_tensors, train_bag
from automm.folds import Fold, fold_scores, scratch_best_epochs, study_folds
from automm.linear import LinearCandidate, LinearGenotype, fit_linear, is_linear, study_linear_candidate
from automm.methods.base import SearchContext, SearchMethod
from automm.methods.tuning import resolve
from automm.metrics import PRIMARY_METRIC, all_metrics
from automm.objective import fold_seed, genotype_seed
from automm.results import score_of
from automm.threads import batch_work, rule_threads
from automm.training import TensorData, fit, predict_logits

RETRAINING = "retraining on train+validation, scoring on test"
DELIVERING = "training the delivered model on train+validation"

STARTS = ("auto", "kb", "scratch", "bag")


def _work(trainer: FinalTrainer) -> int:  # multiply-accumulates per batch, for the thread rule
    ds, config = trainer.dataset, trainer.context.config
    return batch_work(dict(ds.view_dims), config.fusion_dim, config.batch_size, ds.n_classes)


class FinalTrainer:
    """Retrains, scores and exports the genotypes of one study (see module docstring)."""

    def __init__(self, context: SearchContext, method: SearchMethod, space: Any) -> None:
        self.context = context
        self.method = method
        self.space = space
        self.dataset = context.dataset
        self.metric = PRIMARY_METRIC[self.dataset.task]
        self._bag_data: tuple[Standardizer, list[tuple[TensorData, TensorData]]] | None = None  # fold tensors
        self._linear: LinearCandidate | None = None
        self._recipes: dict[tuple[str, str], tuple[dict[str, torch.Tensor] | None, int]] = {}

    @property
    def study(self) -> optuna.Study:
        return self.context.optuna_study

    def recipe(self, genotype: Any, start: str) -> tuple[dict[str, torch.Tensor] | None, int]:
        """(weights to start from or None, epochs) for training ``genotype`` on train+validation.

        ``kb``: from the KB weights its trial used, for the epoch its validation score peaked at;
        ``scratch``: from random weights, for the epochs early stopping found from scratch (median
        over the trial's from-scratch folds, else a fit on the train split); ``auto``: ``scratch``
        unless the warm start scored strictly better on the same validation rows (a 1-2 epoch
        warm schedule must not underfit the delivered model).
        """
        if start not in STARTS:
            raise AutommError(f"start must be auto, bag, kb or scratch, got {start!r}")
        if is_linear(genotype):  # fitted to convergence: no start, no epochs
            return None, 0
        trial = results.trial_of(self.study, genotype)
        state = self.method.final_start(self.context, trial) if trial is not None and start != "scratch" else None
        if start == "kb" and state is None:
            raise AutommError(f"{genotype} was not trained from a knowledge base in this study")
        warm_epochs = max(1, int(trial.user_attrs.get(attrs.BEST_EPOCH) or 1)) if trial is not None else 1
        if start == "kb":
            return state, warm_epochs
        epochs, scratch_score = self._scratch_epochs(genotype, trial)
        if state is not None and scratch_score is not None and trial is not None:
            scores = fold_scores(trial)
            warm_score = scores[0] if scores else None
            if warm_score is not None and warm_score > scratch_score:
                return state, warm_epochs
        return None, epochs

    def _scratch_epochs(self, genotype: Any, trial: optuna.trial.FrozenTrial | None) -> tuple[int, float | None]:
        """(epochs to train ``genotype`` from scratch, the validation score of the fit that found them:
        None when they come from the trial's from-scratch folds)."""
        scratch_epochs = scratch_best_epochs(trial, self.method.warm_started(trial)) if trial is not None else []
        if scratch_epochs and not self.method.proxy_scores:  # searched from scratch: its folds' median
            return max(1, round(statistics.median(scratch_epochs))), None
        # early stopping from scratch with the full training settings (proxy scores had short training)
        train, val = self._search_data()
        seed = genotype_seed(self.context.seed, genotype)
        torch.manual_seed(seed)
        net = self._net(genotype)
        settings = resolve(self.space, genotype, self.context.config)[2]
        result = fit(net, train, val, self.dataset.task, settings.train_config(), seed=seed)
        return max(1, result.best_epoch), result.best_score

    def _net(self, genotype: Any) -> nn.Module:
        ds = self.dataset
        space, inner, config = resolve(self.space, genotype, self.context.config)
        net = self.method.build_net(space, inner, ds.view_dims, ds.n_classes, config)
        return net.to(self.context.device)

    def _search_data(self) -> tuple[TensorData, TensorData]:
        """The search's train and validation tensors (standardised on train)."""
        splits, device = self.dataset.splits, self.context.device
        standardizer = Standardizer.fit(self.dataset.views, splits.train)
        return (
            TensorData.from_dataset(self.dataset, splits.train, standardizer, device),
            TensorData.from_dataset(self.dataset, splits.val, standardizer, device),
        )

    def final_data(self) -> tuple[Standardizer, TensorData, TensorData]:
        """Standardiser fitted on train+validation, and the train+validation and test tensors."""
        splits = self.dataset.splits
        if splits.test.size == 0:
            raise AutommError(f"data set {self.dataset.name!r} has no test split to evaluate on")
        fit_rows = np.concatenate([splits.train, splits.val])
        standardizer = Standardizer.fit(self.dataset.views, fit_rows)
        device = self.context.device
        train = TensorData.from_dataset(self.dataset, fit_rows, standardizer, device)
        test = TensorData.from_dataset(self.dataset, splits.test, standardizer, device)
        return standardizer, train, test

    def parse(self, text: Any) -> Any:
        """A member's genotype from its string: the linear candidate or a genotype of the study's space."""
        return LinearGenotype.parse(text) if is_linear(text) else self.space.parse(str(text))

    def linear_candidate(self) -> LinearCandidate:
        """The linear candidate (`automm.linear`) on the study's folds: computed once, kept in the study."""
        self._linear = self._linear or study_linear_candidate(self.context)
        return self._linear

    @functools.cached_property
    def folds(self) -> list[Fold]:  # what the study's candidates were scored on
        return study_folds(self.dataset, self.context.config.folds, self.context.seed)

    def train(
        self, genotype: Any, state: dict[str, torch.Tensor] | None, epochs: int, seed: int, data: TensorData
    ) -> nn.Module:
        """Train ``genotype`` on ``data`` (train+validation) for ``epochs`` epochs (the linear
        candidate: to convergence, with its chosen C)."""
        if is_linear(genotype):
            c = self.linear_candidate().c
            return fit_linear(data, genotype.views, self.dataset.task, self.dataset.n_classes, c)
        torch.manual_seed(seed)
        net = self._net(genotype)
        if state is not None:
            self.method.warm_start(net, state)
        settings = resolve(self.space, genotype, self.context.config)[2]
        fit(net, data, None, self.dataset.task, settings.train_config(), seed=seed, epochs=epochs)
        return net

    def _test_metrics(
        self, nets: nn.Module | list[nn.Module], test: TensorData, weights: list[float] | None = None
    ) -> dict[str, float]:
        members = [nets] if isinstance(nets, nn.Module) else nets
        logits = [torch.from_numpy(predict_logits(net, test)) for net in members]
        combined = combine(logits, weights or [1.0 / len(members)] * len(members), self.dataset.task == "multiclass")
        labels = test.labels.cpu().numpy()
        return all_metrics(combined.numpy(), labels, self.dataset.task, self.context.config.threshold)

    @rule_threads(_work)
    def evaluate(self, genotype: Any, seeds: int = 1, start: str = "auto", store: bool = False) -> Evaluation:
        """Retrain ``genotype`` ``seeds`` times on train+validation; test mean and std.

        ``store``: keep the result in the study's user attributes (``evaluation``).
        """
        if seeds < 1:
            raise AutommError(f"seeds must be at least 1, got {seeds}")
        standardizer, train, test = self.final_data()
        scores, details = [], []
        for s in range(seeds):
            net, epochs, how = self.deliver(genotype, start, self.context.seed + 1000 * (s + 1), standardizer, train)
            metrics = self._test_metrics(net, test)
            details.append(metrics)
            scores.append(metrics[self.metric])
        result = Evaluation(
            genotype=str(genotype),
            metric=self.metric,
            scores=scores,
            mean=float(np.mean(scores)),
            std=float(statistics.pstdev(scores)) if len(scores) > 1 else 0.0,
            epochs=epochs,
            warm_started=how == "kb",
            details=details,
        )
        if store:
            self.study.set_user_attr(attrs.EVALUATION, json.loads(json.dumps(asdict(result))))
        return result

    @rule_threads(_work)
    def retrain(self, top: int = 1, seeds: int = 5, ensemble_size: int | None = None) -> list[dict[str, Any]]:
        """Retrain the ``top`` genotypes chosen on validation data, from shared weights (when they used
        them), from scratch and (with K > 1 folds) as their fold networks; score each on the test split
        over ``seeds`` seeds. When the study's ensemble (``ensemble_size`` rounds, default the study's)
        has several members, a last row (start ``ensemble``) scores the delivered ensemble the same way.

        Returns one row per (genotype, start) and stores them under the study attribute ``retrain``.
        """
        if top < 1:
            raise AutommError(f"top must be at least 1, got {top}")
        bag = len(self.folds) > 1
        plan = []  # (rank, genotype, trial, start)
        for rank, text in enumerate(results.top_genotypes(self.study, top), start=1):  # searched ones only
            genotype = self.space.parse(text)
            trial = results.trial_of(self.study, genotype)
            warm = trial is not None and self.method.warm_started(trial)
            plan += [(rank, genotype, trial, start) for start in ["kb"] * warm + ["scratch"] + ["bag"] * bag]
        rounds = self.context.config.ensemble_size if ensemble_size is None else ensemble_size
        choice = self.ensemble(rounds) if rounds > 1 else None
        members = choice is not None and len(choice.genotypes) > 1
        total = len(plan) + members
        step(RETRAINING, 0, total, "models")
        rows = []
        for done, (rank, genotype, trial, start) in enumerate(plan, start=1):
            ev = self.evaluate(genotype, seeds=seeds, start=start)
            rows.append(retrain_row(rank, ev, score_of(trial) if trial else None, start))
            step(RETRAINING, done, total, "models")
        if members:
            assert choice is not None
            genotypes = [self.parse(g) for g in choice.genotypes]
            ev = self._evaluate_members(genotypes, choice.weights, seeds, "auto")
            rows.append(retrain_row(0, ev, choice.score, "ensemble"))
            step(RETRAINING, total, total, "models")
        self.study.set_user_attr(attrs.RETRAIN, rows)
        return rows

    def ensemble(self, size: int | None = None, store: bool = True) -> EnsembleChoice:
        """Greedy ensemble selection of ``size`` rounds (default: the study's ``ensemble_size``) over
        the candidates' out-of-fold predictions, the linear candidate's among them; stored under the
        study attribute ``ensemble``."""
        rounds = self.context.config.ensemble_size if size is None else size
        if rounds < 1:
            raise AutommError(f"the ensemble size must be at least 1, got {rounds}")
        choice = choose_ensemble(
            self.study,
            self.context.artifact_store,
            self.dataset.labels,
            self.dataset.task,
            rounds,
            self.context.config.threshold,
            extra=self._extra_candidates(),
        )
        if store:
            self.study.set_user_attr(attrs.ENSEMBLE, choice.to_dict())
        return choice

    def _extra_candidates(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Candidates that are not trials: the linear one (none for a study without stored predictions)."""
        if self.context.artifact_store is None or not any(
            attrs.PREDICTIONS in t.system_attrs for t in results.candidates(self.study)
        ):
            return []
        linear = self.linear_candidate()
        return [(str(linear.genotype), linear.rows, linear.probabilities)]

    def _members(self, genotype: Any, ensemble_size: int | None) -> tuple[list[Any], list[float]]:
        """The genotypes to deliver and their weights: ``genotype`` alone when given, else the
        ensemble (one member: the best candidate)."""
        if genotype is not None:
            return [genotype], [1.0]
        if (self.context.config.ensemble_size if ensemble_size is None else ensemble_size) <= 1:
            return [self.space.parse(results.best_trial(self.study).user_attrs[attrs.GENOTYPE])], [1.0]
        choice = self.ensemble(ensemble_size)
        return [self.parse(g) for g in choice.genotypes], choice.weights

    @rule_threads(_work)
    def evaluate_ensemble(self, seeds: int = 1, ensemble_size: int | None = None, start: str = "auto") -> Evaluation:
        """The delivered ensemble, retrained ``seeds`` times on train+validation, scored on test."""
        genotypes, weights = self._members(None, ensemble_size)
        return self._evaluate_members(genotypes, weights, seeds, start)

    def _evaluate_members(self, genotypes: list[Any], weights: list[float], seeds: int, start: str) -> Evaluation:
        standardizer, train, test = self.final_data()
        scores, details, epochs, hows = [], [], 0, set()
        for s in range(seeds):
            nets = []
            for g in genotypes:
                net, n, how = self.deliver(g, start, self.context.seed + 1000 * (s + 1), standardizer, train)
                nets.append(net)
                epochs, hows = epochs + n, hows | {how}
            metrics = self._test_metrics(nets, test, weights)
            details.append(metrics)
            scores.append(metrics[self.metric])
        return Evaluation(
            genotype=" + ".join(f"{w:.2f}*{g}" for g, w in zip(genotypes, weights, strict=True)),
            metric=self.metric,
            scores=scores,
            mean=float(np.mean(scores)),
            std=float(statistics.pstdev(scores)) if len(scores) > 1 else 0.0,
            epochs=epochs // seeds,
            warm_started="kb" in hows,
            details=details,
        )

    def deliver(
        self, genotype: Any, start: str, seed: int, standardizer: Standardizer, data: TensorData
    ) -> tuple[nn.Module, int, str]:
        """(network, epochs, how): with ``auto``/``bag`` and K > 1 folds its K fold networks (``bag``,
        `automm.fold_models`); the linear candidate refitted on ``data`` (``fit``); else one network
        trained on ``data`` as `recipe` says (``kb`` or ``scratch``)."""
        if is_linear(genotype):
            return self.train(genotype, None, 0, seed, data), 0, "fit"
        if start == "bag" or (start == "auto" and len(self.folds) > 1):
            if self._bag_data is None or self._bag_data[0] is not standardizer:
                self._bag_data = (
                    standardizer,
                    fold_tensors(self.dataset, self.folds, standardizer, self.context.device),
                )
            settings = resolve(self.space, genotype, self.context.config)[2]
            bag, epochs = train_bag(
                self._bag_data[1],
                lambda: self._net(genotype),
                settings.train_config(),
                self.dataset.task,
                lambda k: fold_seed(seed, genotype, k),
            )
            return bag, epochs, "bag"
        key = (str(genotype), start)
        if key not in self._recipes:  # a recipe may train (a from-scratch fit): once per genotype and start
            self._recipes[key] = self.recipe(genotype, start)
        state, epochs = self._recipes[key]
        net = self.train(genotype, state, epochs, genotype_seed(seed, genotype), data)
        return net, epochs, "kb" if state is not None else "scratch"

    def _export_info(self, genotype: Any) -> dict[str, Any]:
        if is_linear(genotype):
            return {"space": "linear", "c": self.linear_candidate().c}
        inner_space, _, settings = resolve(self.space, genotype, self.context.config)
        return self.method.export_info(inner_space, settings)

    @rule_threads(_work)
    def export(
        self,
        genotype: Any,
        out_dir: str | Path,
        start: str = "auto",
        overwrite: bool = False,
        ensemble_size: int | None = None,
    ) -> Path:
        """Train the delivered model on train+validation and write it to ``out_dir`` (see `automm.export`).

        ``genotype`` None delivers the study's choice: the greedy ensemble of ``ensemble_size``
        rounds (default the study's setting; 1: the best candidate alone).
        """
        genotypes, weights = self._members(genotype, ensemble_size)
        standardizer, train, test = self.final_data()
        nets, epochs, starts = [], [], []
        step(DELIVERING, 0, len(genotypes), "members")
        for g in genotypes:
            net, n, how = self.deliver(g, start, self.context.seed, standardizer, train)
            nets.append(net)
            epochs.append(n)
            starts.append(how)
            step(DELIVERING, len(nets), len(genotypes), "members")
        builds = [
            {**self._export_info(g), **({"bagged": len(net.nets)} if isinstance(net, BaggedNet) else {})}
            for g, net in zip(genotypes, nets, strict=True)
        ]
        info = {
            **{k: v for k, v in builds[0].items() if k != "bagged"},  # per member only
            "method": self.method.name,
            "study": self.study.study_name,
            "dataset": self.dataset.name,
            "metric": self.metric,
            "epochs": epochs[0] if len(epochs) == 1 else epochs,
            "started_from": starts[0] if len(starts) == 1 else starts,
            "test_metrics": self._test_metrics(nets, test, weights),
            "search_trials": results.n_finished(self.study),
            "automm_version": __version__,
        }
        ds = self.dataset
        return export_model(
            nets,
            standardizer,
            out_dir,
            task=ds.task,
            class_names=ds.class_names,
            view_dims=ds.view_dims,
            threshold=self.context.config.threshold,
            info=info,
            weights=weights,
            member_info=builds,
            overwrite=overwrite,
        )
