"""The delivered model: retrain a chosen genotype on train+validation, score it on test, export it.

The choice is always made on validation data (search scores); the test split is turned into
tensors here, after the choice, and only scored.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from automm._version import __version__
from automm.core import keys
from automm.core.errors import AutommError
from automm.core.metrics import all_metrics
from automm.core.progress import step
from automm.core.threads import rule_threads
from automm.delivery import finishing
from automm.delivery.ensemble import EnsembleChoice, choose_ensemble
from automm.delivery.evaluation import Evaluation, retrain_row
from automm.delivery.export import ExportedModel, export_model
from automm.delivery.trainer import Delivery
from automm.engine.bagged import BaggedNet, combine
from automm.engine.training import TensorData, predict_logits
from automm.search import queries
from automm.search.queries import score_of
from automm.store.trial_record import TrialRecord

RETRAINING = "retraining on train+validation, scoring on test"
DELIVERING = "training the delivered model on train+validation"
FINISHING = "finishing the chosen warm-started members"


def _work(trainer: FinalTrainer) -> int:  # multiply-accumulates per batch, for the thread rule
    return trainer.method.batch_work(trainer.dataset, trainer.context.config)


class FinalTrainer(Delivery):
    """Retrains, scores, ensembles and exports the genotypes of one study (see module docstring)."""

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
            warm_started=how in ("kb", "bag-kb"),
            details=details,
        )
        if store:
            self.study.set_user_attr(keys.EVALUATION, json.loads(json.dumps(asdict(result))))
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
        for rank, text in enumerate(queries.top_genotypes(self.study, top), start=1):  # searched ones only
            genotype = self.space.parse(text)
            trial = queries.trial_of(self.study, genotype)
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
        self.study.set_user_attr(keys.RETRAIN, rows)
        return rows

    def ensemble(
        self, size: int | None = None, store: bool = True, check: bool = True, finish: bool | None = None
    ) -> EnsembleChoice:
        """Greedy ensemble selection of ``size`` rounds (default: the study's ``ensemble_size``) over
        the candidates' out-of-fold predictions, the linear candidate's among them, checked on rows it
        did not choose on (``check``; see `choose_ensemble`); stored under the study attribute
        ``ensemble`` and reused while the study has no new finished trial.

        ``finish`` (default: as the method says for a study not under a time budget,
        `SearchMethod.finishes_members`): the warm-started members the greedy rounds pick are finished
        (`automm.delivery.finishing`) and the rounds run again on their finished predictions, until they
        pick no member left to finish; then the check."""
        rounds = self.context.config.ensemble_size if size is None else size
        if rounds < 1:
            raise AutommError(f"the ensemble size must be at least 1, got {rounds}")
        reused = EnsembleChoice.stored(self.study, rounds)
        if reused is not None:  # chosen once (after the search); export and the summary reuse it
            return reused
        if self.method.finishes_members(False) if finish is None else finish:
            self._finish_members(rounds)
        choice = self._choose(rounds, check)
        if store:
            self.study.set_user_attr(keys.ENSEMBLE, choice.to_dict())
        return choice

    def _choose(self, rounds: int, check: bool) -> EnsembleChoice:
        return choose_ensemble(
            self.study,
            self.context.artifact_store,
            self.dataset.labels,
            self.dataset.task,
            rounds,
            self.context.config.threshold,
            extra=self._extra_candidates(),
            check=check,
        )

    def _greedy_members(self, rounds: int) -> list[int | None]:
        return self._choose(rounds, check=False).trials

    def _finish_members(self, rounds: int) -> None:
        """Finish the members greedy rounds pick until they pick none left to finish (each pass finishes
        at least one kept trial, and at most ``ensemble_size`` trials keep their networks)."""
        tried: set[int] = set()  # once each, whatever the outcome (networks pruned meanwhile)
        while todo := [t for t in finishing.to_finish(self, self._greedy_members(rounds)) if t.number not in tried]:
            tried.update(t.number for t in todo)
            step(FINISHING, 0, len(todo), "members")
            for done, trial in enumerate(todo, start=1):
                finishing.finish(self, trial)
                step(FINISHING, done, len(todo), "members")

    def _extra_candidates(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Candidates that are not trials: the linear one (none for a study without stored predictions)."""
        if self.context.artifact_store is None or not any(
            keys.PREDICTIONS in t.system_attrs for t in queries.candidates(self.study)
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
            return [self.space.parse(TrialRecord.of(queries.best_trial(self.study)).genotype)], [1.0]
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
            warm_started=bool(hows & {"kb", "bag-kb"}),
            details=details,
        )

    @rule_threads(_work)
    def export(
        self,
        genotype: Any,
        out_dir: str | Path,
        start: str = "auto",
        overwrite: bool = False,
        ensemble_size: int | None = None,
        onnx: bool | None = None,
    ) -> ExportedModel:
        """Train the delivered model on train+validation and write it to ``out_dir`` (see `automm.delivery.export`).

        ``genotype`` None delivers the study's choice: the greedy ensemble of ``ensemble_size``
        rounds (default the study's setting; 1: the best candidate alone). ``onnx``: as `export_model`'s.
        """
        genotypes, weights = self._members(genotype, ensemble_size)
        standardizer, train, test = self.final_data(need_test=False)
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
            "test_metrics": {} if test is None else self._test_metrics(nets, test, weights),
            "search_trials": queries.n_finished(self.study),
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
            token_lengths=ds.token_lengths,
            overwrite=overwrite,
            onnx=onnx,
        )
