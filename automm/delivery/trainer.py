"""Training a study's genotype as a delivered model, on train+validation.

`Delivery.deliver` trains a genotype as the study's settings say: its fold networks (K > 1 folds),
the linear candidate refitted, or one network from the shared weights its trial used or from
scratch, for the epochs `Delivery.recipe` finds. Only search rows (train, validation) are used here;
`automm.delivery.final_trainer` turns the test rows into tensors after the choice and only scores them.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

from automm.core.device import seed_torch
from automm.core.errors import AutommError
from automm.core.metrics import PRIMARY_METRIC
from automm.data.preprocess import Standardizer
from automm.delivery.fold_bags import fold_tensors, train_bag
from automm.delivery.linear_candidate import LinearCandidate, study_linear_candidate
from automm.engine.bagged import BaggedNet
from automm.engine.fold_data import Fold
from automm.engine.linear_net import LinearGenotype, fit_linear, is_linear
from automm.engine.training import TensorData, fit, standardized
from automm.methods.base import SearchContext, SearchMethod
from automm.methods.hyperparams import resolve
from automm.search import queries
from automm.search.folds import fold_scores, scratch_best_epochs
from automm.search.objective import fold_seed, genotype_seed
from automm.store import fold_networks
from automm.store.artifacts import study_lock
from automm.store.trial_record import TrialRecord

STARTS = ("auto", "kb", "scratch", "bag")


class Delivery:
    """How one study's genotypes are trained as delivered models (see module docstring); `FinalTrainer`
    scores, ensembles and exports them."""

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
        trial = queries.trial_of(self.study, genotype)
        state = self.method.final_start(self.context, trial) if trial is not None and start != "scratch" else None
        if start == "kb" and state is None:
            raise AutommError(
                f"{genotype} was not trained from a knowledge base in this study, or its KB version was pruned"
            )
        warm_epochs = max(1, int(TrialRecord.of(trial).best_epoch or 1)) if trial is not None else 1
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
        scratch_epochs = scratch_best_epochs(trial, self.method.warm_folds(trial)) if trial is not None else []
        if scratch_epochs and not self.method.proxy_scores:  # searched from scratch: its folds' median
            return max(1, round(statistics.median(scratch_epochs))), None
        # early stopping from scratch with the full training settings (proxy scores had short training)
        train, val = self._search_data()
        seed = genotype_seed(self.context.seed, genotype)
        seed_torch(seed)
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
        splits = self.dataset.splits
        _, (train, val) = standardized(self.dataset, splits.train, [splits.train, splits.val], self.context.device)
        return train, val

    def final_data(self, need_test: bool = True) -> tuple[Standardizer, TensorData, TensorData | None]:
        """Standardiser fitted on train+validation, and the train+validation and test tensors (test None
        when the data set has no test rows and ``need_test`` is False: a model delivered without a report)."""
        splits = self.dataset.splits
        if splits.test.size == 0 and need_test:
            raise AutommError(f"data set {self.dataset.name!r} has no test split to evaluate on")
        fit_rows = np.concatenate([splits.train, splits.val])
        if splits.test.size == 0:
            standardizer, (train,) = standardized(self.dataset, fit_rows, [fit_rows], self.context.device)
            return standardizer, train, None
        standardizer, (train, test) = standardized(self.dataset, fit_rows, [fit_rows, splits.test], self.context.device)
        return standardizer, train, test

    def parse(self, text: Any) -> Any:
        """A member's genotype from its string: the linear candidate or a genotype of the study's space."""
        return LinearGenotype.parse(text) if is_linear(text) else self.space.parse(str(text))

    def linear_candidate(self) -> LinearCandidate:
        """The linear candidate (`automm.delivery.linear_candidate`) on the study's folds, kept in the study.
        Chosen under the study lock, so that of parallel workers one fits it and the others read it back."""
        if self._linear is None:
            with study_lock(self.context.lock_dir):
                self._linear = study_linear_candidate(self.context)
        return self._linear

    @property
    def folds(self) -> list[Fold]:  # what the study's candidates were scored on
        return self.context.folds.folds

    def train(
        self, genotype: Any, state: dict[str, torch.Tensor] | None, epochs: int, seed: int, data: TensorData
    ) -> nn.Module:
        """Train ``genotype`` on ``data`` (train+validation) for ``epochs`` epochs (the linear
        candidate: to convergence, with its chosen C)."""
        if is_linear(genotype):
            c = self.linear_candidate().c
            return fit_linear(data, genotype.views, self.dataset.task, self.dataset.n_classes, c)
        seed_torch(seed)
        net = self._net(genotype)
        if state is not None:
            self.method.warm_start(net, state)
        settings = resolve(self.space, genotype, self.context.config)[2]
        fit(net, data, None, self.dataset.task, settings.train_config(), seed=seed, epochs=epochs)
        return net

    def deliver(
        self, genotype: Any, start: str, seed: int, standardizer: Standardizer, data: TensorData
    ) -> tuple[nn.Module, int, str]:
        """(network, epochs, how): with ``auto``/``bag`` and K > 1 folds its K fold networks: with ``auto``
        those the search trained and scored (``search``, no epochs, when it kept them and ``seed`` is the
        study's, see `automm.store.fold_networks`), else (and always with ``bag``) trained again (``bag``,
        `automm.delivery.fold_bags`; ``bag-kb`` when every fold was warm-started in the search, each from
        its fold's KB with the warm training settings, as it was scored); the linear candidate refitted on
        ``data`` (``fit``); else one network trained on ``data`` as `recipe` says (``kb`` or ``scratch``)."""
        if is_linear(genotype):
            return self.train(genotype, None, 0, seed, data), 0, "fit"
        if start == "bag" or (start == "auto" and len(self.folds) > 1):
            trial = queries.trial_of(self.study, genotype)
            if start == "auto" and trial is not None and seed == self.context.seed:  # the search trained this bag
                kept = self._kept_bag(genotype, trial, standardizer)
                if kept is not None:
                    return kept, 0, "search"
            if self._bag_data is None or self._bag_data[0] is not standardizer:
                self._bag_data = (
                    standardizer,
                    fold_tensors(self.dataset, self.folds, standardizer, self.context.device),
                )
            config = resolve(self.space, genotype, self.context.config)[2].train_config()
            starts = []
            if trial is not None and self.method.warm_folds(trial) >= len(self.folds):
                starts = [self.method.final_start(self.context, trial, fold=k) for k in range(len(self.folds))]
            warm = bool(starts) and all(s is not None for s in starts)
            if warm:  # every fold network starts from the KB its search fold started from, as it was scored
                config = self.method.warm_train_config(config)

            def build(k: int) -> nn.Module:
                net = self._net(genotype)
                if warm:
                    self.method.warm_start(net, starts[k])  # type: ignore[arg-type]
                return net

            bag, epochs = train_bag(
                self._bag_data[1], build, config, self.dataset.task, lambda k: fold_seed(seed, genotype, k)
            )
            return bag, epochs, "bag-kb" if warm else "bag"
        key = (str(genotype), start)
        if key not in self._recipes:  # a recipe may train (a from-scratch fit): once per genotype and start
            self._recipes[key] = self.recipe(genotype, start)
        state, epochs = self._recipes[key]
        net = self.train(genotype, state, epochs, genotype_seed(seed, genotype), data)
        return net, epochs, "kb" if state is not None else "scratch"

    def _kept_bag(self, genotype: Any, trial: optuna.trial.FrozenTrial, standardizer: Standardizer) -> BaggedNet | None:
        """``genotype``'s fold networks as the search trained and scored them (`automm.store.fold_networks`),
        made to take views standardised by ``standardizer``; None when the search did not keep them."""
        states = fold_networks.kept(self.study, self.context.artifact_store, trial, len(self.folds))
        if states is None:
            return None
        nets = []
        for fold, state in zip(self.folds, states, strict=True):
            net = self._net(genotype)
            net.load_state_dict(state)
            if not self.method.adopt_inputs(net, self._input_maps(fold, standardizer)):
                return None
            nets.append(net.to(self.context.device))
        return BaggedNet(nets, self.dataset.task == "multiclass")

    def _input_maps(self, fold: Fold, standardizer: Standardizer) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per view, (a, c) such that a fold network's input (standardised on ``fold``'s training rows, as in
        the search) is ``a * z + c`` of ``z``, the view standardised by ``standardizer``."""
        own = Standardizer.fit(self.dataset.views, fold.train, self.dataset.masks)
        maps = {}
        for view in self.dataset.view_names:
            scale = standardizer.scale[view] / own.scale[view]
            shift = (standardizer.mean[view] - own.mean[view]) / own.scale[view]
            maps[view] = (torch.from_numpy(scale.astype(np.float32)), torch.from_numpy(shift.astype(np.float32)))
        return maps

    def _export_info(self, genotype: Any) -> dict[str, Any]:
        if is_linear(genotype):
            return {"space": "linear", "c": self.linear_candidate().c}
        inner_space, _, settings = resolve(self.space, genotype, self.context.config)
        return self.method.export_info(inner_space, settings)
