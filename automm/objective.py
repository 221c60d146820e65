"""The objective: Optuna trial -> genotype -> FusionNet trained on train -> validation score.

With a `KnowledgeBase`, each individual is warm-started from the KB version of its
generation and, when fair selection admits it, offers its trained weights for the next
version. Only the train and validation rows are turned into tensors here: the test split
is never seen during search or model selection.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import optuna
import torch
from torch import nn

from automm.config import SearchConfig
from automm.data.dataset import MultimodalDataset
from automm.data.preprocess import Standardizer
from automm.knowledge import KnowledgeBase, LayerBank, Supernet, warm_start
from automm.model import count_parameters
from automm.samplers.ksnas import trial_generation
from automm.space import Genotype, SearchSpace
from automm.training import FitResult, TensorData, default_device, fit

# Trial user attributes written by the objective.
ATTR_GENOTYPE = "genotype"
ATTR_CACHE_KEY = "cache_key"  # genotype plus the KB version it started from
ATTR_DUPLICATE_OF = "duplicate_of"


def genotype_seed(seed: int, genotype: Genotype) -> int:
    """A seed fixed by the study seed and the architecture, so one genotype trains identically."""
    return zlib.crc32(f"{seed}:{genotype}".encode())


class FusionObjective:
    """Callable objective for ``optuna.Study.optimize`` (maximise the validation score)."""

    def __init__(
        self,
        dataset: MultimodalDataset,
        space: SearchSpace,
        config: SearchConfig,
        *,
        seed: int = 0,
        device: torch.device | None = None,
    ) -> None:
        self.dataset = dataset
        self.space = space
        self.config = config
        self.train_config = config.train_config()
        self.seed = seed
        self.device = device or default_device()
        self.knowledge: KnowledgeBase | None = None
        self.on_genotype: Callable[[optuna.Trial, Genotype], object] | None = None  # e.g. attach a diagram
        self.minimize_params = False  # True: return (score, parameter count), the second minimised
        self.layer_bank: LayerBank | None = None  # MFAS weight sharing
        splits = dataset.splits
        self.standardizer = Standardizer.fit(dataset.views, splits.train)
        self.train_data = TensorData.from_dataset(dataset, splits.train, self.standardizer, self.device)
        self.val_data = TensorData.from_dataset(dataset, splits.val, self.standardizer, self.device)

    def build(self, genotype: Any) -> nn.Module:
        """A freshly initialised network of the space (seeded by the genotype) on the objective's device."""
        torch.manual_seed(genotype_seed(self.seed, genotype))
        net = self.space.build_net(
            genotype, self.dataset.view_dims, self.dataset.n_classes, self.config.fusion_dim, self.config.dropout
        )
        return net.to(self.device)

    def build_supernet(self) -> Supernet:
        """A freshly initialised supernet over this objective's space (seeded by the study seed)."""
        torch.manual_seed(self.seed)
        net = Supernet(
            self.dataset.view_dims,
            self.dataset.n_classes,
            self.config.fusion_dim,
            self.space.max_views,
            self.config.dropout,
        )
        return net.to(self.device)

    def train(self, net: nn.Module, trial: optuna.Trial | None = None, *, warm: bool = False) -> FitResult:
        """Train to convergence on the train split; report each epoch to ``trial`` for pruning.

        A ``warm`` (KB-initialised) net is scored before training and stops after the KB's
        ``warm_patience`` epochs without improvement.
        """

        def report(epoch: int, score: float) -> None:
            if trial is None or self.minimize_params:  # Optuna takes no intermediate values with 2 objectives
                return
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} with score {score:.4f}")

        config = self.train_config
        if warm and self.knowledge is not None and self.knowledge.settings.warm_patience is not None:
            config = replace(config, patience=self.knowledge.settings.warm_patience)
        return fit(
            net,
            self.train_data,
            self.val_data,
            self.dataset.task,
            config,
            seed=genotype_seed(self.seed, net.genotype),
            on_epoch=report,
            score_initial=warm,
        )

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        genotype = self.space.suggest(trial)
        trial.set_user_attr(ATTR_GENOTYPE, str(genotype))
        if self.on_genotype is not None:
            self.on_genotype(trial, genotype)
        generation = trial_generation(trial)
        if generation is not None:
            trial.set_user_attr("generation", generation)
        kb_state = None
        cache_key = str(genotype)
        if self.layer_bank is not None:  # shared weights keep changing: every evaluation is new
            cache_key = f"{genotype}@trial{trial.number}"
        if self.knowledge is not None:
            assert generation is not None, "knowledge sharing needs a generation (KSNASSampler)"
            kb_state, pointer = self.knowledge.load(generation)
            trial.set_user_attr("kb_version", pointer["version"])
            trial.set_user_attr("kb_sha256", pointer["sha256"])
            cache_key = f"{genotype}@kb{pointer['version']}"
        trial.set_user_attr(ATTR_CACHE_KEY, cache_key)

        earlier = _completed_with_key(trial.study, cache_key)
        if earlier is not None:  # same architecture, same start: the result would be identical
            trial.set_user_attr(ATTR_DUPLICATE_OF, earlier.number)
            for name in ("n_params", "epochs", "best_epoch"):
                trial.set_user_attr(name, earlier.user_attrs.get(name))
            trial.set_user_attr("seconds", 0.0)
            assert earlier.values is not None
            return tuple(earlier.values) if self.minimize_params else earlier.values[0]  # type: ignore[return-value]

        net = self.build(genotype)
        if kb_state is not None:
            warm_start(net, kb_state)
        if self.layer_bank is not None:
            trial.set_user_attr("inherited_layers", self.layer_bank.warm_start(net))
        trial.set_user_attr("n_params", count_parameters(net))
        result = self.train(net, trial, warm=kb_state is not None)
        trial.set_user_attr("epochs", result.epochs)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("seconds", round(result.seconds, 4))
        trial.set_user_attr("val_curve", [round(s, 5) for s in result.curve])
        if result.initial_score is not None:
            trial.set_user_attr("initial_score", round(result.initial_score, 5))
        if self.knowledge is not None and generation is not None:
            offered = self.knowledge.offer(trial, generation, net, result.best_score)
            trial.set_user_attr("kb_contributes", offered)
        if self.layer_bank is not None:
            self.layer_bank.offer(trial, net)
        if self.minimize_params:
            return result.best_score, float(count_parameters(net))
        return result.best_score


def score_of(trial: optuna.trial.FrozenTrial) -> float | None:
    """A finished trial's validation score (its first objective), None if it has none."""
    return trial.values[0] if trial.values else None


def _completed_with_key(study: optuna.Study, key: str) -> optuna.trial.FrozenTrial | None:
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.user_attrs.get(ATTR_CACHE_KEY) == key and ATTR_DUPLICATE_OF not in t.user_attrs:
            return t
    return None
