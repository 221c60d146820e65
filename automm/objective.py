"""The objective: Optuna trial -> genotype -> network -> trained on train -> validation score.

Generic over search methods: the method supplies the space, the network and `TrialHooks`
(warm starts, weight sharing). Only the train and validation rows become tensors here: the
test split is never seen during search or model selection.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import optuna
import torch
from torch import nn

from automm import attrs
from automm.data.dataset import MultimodalDataset
from automm.data.preprocess import Standardizer
from automm.device import default_device
from automm.methods.base import SearchMethod, TrialHooks
from automm.settings import SearchConfig
from automm.training import FitResult, TensorData, count_parameters, fit


def genotype_seed(seed: int, genotype: Any) -> int:
    """A seed fixed by the study seed and the architecture, so one genotype trains identically."""
    return zlib.crc32(f"{seed}:{genotype}".encode())


class FusionObjective:
    """Callable objective for ``optuna.Study.optimize`` (maximise the validation score).

    With ``minimize_params`` it returns (score, parameter count), the second minimised.
    ``on_genotype(trial, genotype)`` runs first in each trial (e.g. to attach a diagram).
    """

    def __init__(
        self,
        dataset: MultimodalDataset,
        method: SearchMethod,
        space: Any,
        config: SearchConfig,
        *,
        seed: int = 0,
        device: torch.device | None = None,
        minimize_params: bool = False,
        on_genotype: Callable[[optuna.Trial, Any], object] | None = None,
    ) -> None:
        self.dataset = dataset
        self.method = method
        self.space = space
        self.config = config
        self.train_config = config.train_config()
        self.seed = seed
        self.device = device or default_device()
        self.minimize_params = minimize_params
        self.on_genotype = on_genotype
        self.hooks: TrialHooks = TrialHooks()
        splits = dataset.splits
        self.standardizer = Standardizer.fit(dataset.views, splits.train)
        self.train_data = TensorData.from_dataset(dataset, splits.train, self.standardizer, self.device)
        self.val_data = TensorData.from_dataset(dataset, splits.val, self.standardizer, self.device)

    def build(self, genotype: Any) -> nn.Module:
        """A freshly initialised network (seeded by the genotype) on the objective's device."""
        torch.manual_seed(genotype_seed(self.seed, genotype))
        ds = self.dataset
        net = self.method.build_net(self.space, genotype, ds.view_dims, ds.n_classes, self.config)
        return net.to(self.device)

    def train(
        self, net: nn.Module, genotype: Any, trial: optuna.Trial | None = None, *, warm: bool = False
    ) -> FitResult:
        """Train to convergence on the train split; report each epoch to ``trial`` for pruning.

        A ``warm`` net is scored before training (epoch 0), and the method's hooks may change
        the training settings (e.g. a shorter patience for warm starts).
        """

        def report(epoch: int, score: float) -> None:
            if trial is None or self.minimize_params:  # Optuna takes no intermediate values with 2 objectives
                return
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} with score {score:.4f}")

        return fit(
            net,
            self.train_data,
            self.val_data,
            self.dataset.task,
            self.hooks.train_config(self.train_config, warm),
            seed=genotype_seed(self.seed, genotype),
            on_epoch=report,
            score_initial=warm,
        )

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        genotype = self.space.suggest(trial)
        trial.set_user_attr(attrs.GENOTYPE, str(genotype))
        if self.on_genotype is not None:
            self.on_genotype(trial, genotype)
        cache_key = self.hooks.prepare(trial, genotype)
        trial.set_user_attr(attrs.CACHE_KEY, cache_key)

        earlier = _completed_with_key(trial.study, cache_key)
        if earlier is not None and earlier.values is not None:  # same architecture, same start: same result
            trial.set_user_attr(attrs.DUPLICATE_OF, earlier.number)
            for name in (attrs.N_PARAMS, attrs.EPOCHS, attrs.BEST_EPOCH):
                trial.set_user_attr(name, earlier.user_attrs.get(name))
            trial.set_user_attr(attrs.SECONDS, 0.0)
            self.hooks.release(trial)
            return tuple(earlier.values) if self.minimize_params else earlier.values[0]  # type: ignore[return-value]

        net = self.build(genotype)
        warm = self.hooks.before_fit(trial, net)
        n_params = count_parameters(net)
        trial.set_user_attr(attrs.N_PARAMS, n_params)
        result = self.train(net, genotype, trial, warm=warm)
        trial.set_user_attr(attrs.EPOCHS, result.epochs)
        trial.set_user_attr(attrs.BEST_EPOCH, result.best_epoch)
        trial.set_user_attr(attrs.SECONDS, round(result.seconds, 4))
        trial.set_user_attr(attrs.VAL_CURVE, [round(s, 5) for s in result.curve])
        if result.initial_score is not None:
            trial.set_user_attr(attrs.INITIAL_SCORE, round(result.initial_score, 5))
        self.hooks.after_fit(trial, net, result)
        if self.minimize_params:
            return result.best_score, float(n_params)
        return result.best_score


def _completed_with_key(study: optuna.Study, key: str) -> optuna.trial.FrozenTrial | None:
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.user_attrs.get(attrs.CACHE_KEY) == key and attrs.DUPLICATE_OF not in t.user_attrs:
            return t
    return None
