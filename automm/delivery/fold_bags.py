"""Delivering a candidate as its fold networks (see `automm.engine.bagged`): train them again, exactly as scored.

Each fold network is trained on its fold's training rows, with early stopping on the fold's
validation rows, from the seed the search used for that fold (`automm.search.objective.fold_seed`). The
rows are standardised with the delivered model's statistics (train+validation), so one
preprocessing serves every network of the export.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from automm.core.device import seed_torch
from automm.data.dataset import MultimodalDataset
from automm.data.preprocess import Standardizer
from automm.engine.bagged import BaggedNet
from automm.engine.fold_data import Fold
from automm.engine.training import TensorData, fit
from automm.settings import TrainConfig


def fold_tensors(
    dataset: MultimodalDataset, folds: Sequence[Fold], standardizer: Standardizer, device: torch.device
) -> list[tuple[TensorData, TensorData]]:
    """(training, validation) tensors of every fold, standardised by ``standardizer``."""
    return [
        (
            TensorData.from_dataset(dataset, fold.train, standardizer, device),
            TensorData.from_dataset(dataset, fold.val, standardizer, device),
        )
        for fold in folds
    ]


def train_bag(
    data: Sequence[tuple[TensorData, TensorData]],
    build: Callable[[int], nn.Module],
    config: TrainConfig,
    task: str,
    seed_of: Callable[[int], int],
) -> tuple[BaggedNet, int]:
    """(the fold networks as one `BaggedNet`, epochs trained in all); ``build(fold)`` makes the fold's
    network (fresh, or warm-started) after the torch seed is set to ``seed_of(fold)``."""
    nets, epochs = [], 0
    for k, (train, val) in enumerate(data):
        seed = seed_of(k)
        seed_torch(seed)
        net = build(k)
        result = fit(net, train, val, task, config, seed=seed)
        epochs += result.epochs
        nets.append(net)
    return BaggedNet(nets, task == "multiclass"), epochs
