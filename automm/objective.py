"""The objective: Optuna trial -> genotype -> FusionNet trained on train -> validation score.

Only the train and validation rows are turned into tensors here: the test split is never
seen during search or model selection.
"""

from __future__ import annotations

import zlib

import optuna
import torch

from automm.config import SearchConfig
from automm.data.dataset import MultimodalDataset
from automm.data.preprocess import Standardizer
from automm.model import FusionNet, count_parameters
from automm.space import Genotype, SearchSpace
from automm.training import FitResult, TensorData, default_device, fit

# Trial user attributes written by the objective.
ATTR_GENOTYPE = "genotype"
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
        splits = dataset.splits
        self.standardizer = Standardizer.fit(dataset.views, splits.train)
        self.train_data = TensorData.from_dataset(dataset, splits.train, self.standardizer, self.device)
        self.val_data = TensorData.from_dataset(dataset, splits.val, self.standardizer, self.device)

    def build(self, genotype: Genotype) -> FusionNet:
        """A freshly initialised network (seeded by the genotype) on the objective's device."""
        torch.manual_seed(genotype_seed(self.seed, genotype))
        net = FusionNet(
            genotype, self.dataset.view_dims, self.dataset.n_classes, self.config.fusion_dim, self.config.dropout
        )
        return net.to(self.device)

    def train(self, net: FusionNet, trial: optuna.Trial | None = None) -> FitResult:
        """Train to convergence on the train split; report each epoch to ``trial`` for pruning."""

        def report(epoch: int, score: float) -> None:
            if trial is None:
                return
            trial.report(score, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} with score {score:.4f}")

        return fit(
            net,
            self.train_data,
            self.val_data,
            self.dataset.task,
            self.train_config,
            seed=genotype_seed(self.seed, net.genotype),
            on_epoch=report,
        )

    def __call__(self, trial: optuna.Trial) -> float:
        genotype = self.space.suggest(trial)
        key = str(genotype)
        trial.set_user_attr(ATTR_GENOTYPE, key)
        earlier = _completed_with_genotype(trial.study, key)
        if earlier is not None:  # same architecture, same seed: the result would be identical
            trial.set_user_attr(ATTR_DUPLICATE_OF, earlier.number)
            for name in ("n_params", "epochs", "best_epoch"):
                trial.set_user_attr(name, earlier.user_attrs.get(name))
            trial.set_user_attr("seconds", 0.0)
            assert earlier.value is not None
            return earlier.value
        net = self.build(genotype)
        trial.set_user_attr("n_params", count_parameters(net))
        result = self.train(net, trial)
        trial.set_user_attr("epochs", result.epochs)
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("seconds", round(result.seconds, 4))
        trial.set_user_attr("val_curve", [round(s, 5) for s in result.curve])
        return result.best_score


def _completed_with_genotype(study: optuna.Study, genotype: str) -> optuna.trial.FrozenTrial | None:
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.user_attrs.get(ATTR_GENOTYPE) == genotype and ATTR_DUPLICATE_OF not in t.user_attrs:
            return t
    return None
