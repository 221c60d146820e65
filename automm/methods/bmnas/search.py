"""The bilevel search of one trial: first-order DARTS over the BM-NAS supernet, then derivation.

Every training batch takes one network step (Adam, cosine-annealed learning rate); after the
warm-up epochs each is followed by one architecture step on a validation batch (Adam on alpha,
beta, gamma). After every epoch the supernet is scored on the validation rows in eval mode
(dropout off) and a genotype is derived; the search returns the genotype of the best-scoring epoch
(the later one on ties), as the paper's Algorithm 1 does, with the history of every epoch.
Test rows never reach it: it sees the trial's training and validation tensors only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from automm.core.device import seed_torch
from automm.core.metrics import primary_score
from automm.engine.optimiser import adam
from automm.engine.training import TensorData, loss_function, predict_logits
from automm.methods.bmnas.settings import BMNASSettings, arch_learning_rate
from automm.methods.bmnas.space import BMNASGenotype, BMNASRecipe
from automm.methods.bmnas.supernet import BMNASSupernet, decidedness
from automm.methods.search_steps import anneal, endless_batches, optimiser_step


@dataclass
class SearchResult:
    """A search's derived genotype and how it got there."""

    genotype: BMNASGenotype
    best_epoch: int  # 1-based epoch whose derivation is returned
    arch_lr: float
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per epoch
    state: dict[str, torch.Tensor] = field(default_factory=dict)  # the supernet at the derivation epoch (CPU)

    def summary(self) -> dict[str, Any]:
        """A few numbers for the trial's attributes and note."""
        best = self.history[self.best_epoch - 1]
        return {
            "best_epoch": self.best_epoch,
            "epochs": len(self.history),
            "arch_lr": float(f"{self.arch_lr:.3g}"),
            "supernet_val_curve": [h["val_score"] for h in self.history],
            "margin_mean": best["margin_mean"],
            "margin_min": best["margin_min"],
            "top_mean": best["top_mean"],
            "seconds": round(self.seconds, 2),
        }


def bilevel_search(
    recipe: BMNASRecipe,
    settings: BMNASSettings,
    train: TensorData,
    val: TensorData,
    task: str,
    *,
    n_outputs: int,
    batch_size: int,
    dropout: float,
    threshold: float,
    seed: int,
) -> SearchResult:
    """Search with ``recipe`` (module docstring); the same inputs and seed give the same result on one device."""
    start = time.perf_counter()
    seed_torch(seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    device = train.labels.device
    view_dims = {v: int(t.shape[-1]) for v, t in train.views.items()}
    net = BMNASSupernet(recipe, view_dims, n_outputs, dropout, settings.relaxation, settings.step_inputs).to(device)
    batches = math.ceil(len(train) / batch_size)
    arch_lr = arch_learning_rate(settings, batches * (settings.epochs - settings.warmup_epochs), recipe.arch_lr_factor)
    weights = adam(net.weight_parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    architecture = adam(net.arch.parameters(), lr=arch_lr, betas=(0.5, 0.999), weight_decay=settings.arch_weight_decay)
    criterion = loss_function(task)
    val_labels = val.labels.cpu().numpy()
    val_batches = endless_batches(len(val), batch_size, generator, device)
    history: list[dict[str, Any]] = []
    best_score, best_epoch, best, state = -np.inf, 0, net.derive(), {}
    for epoch in range(settings.epochs):
        anneal(weights, settings.lr, settings.lr_min, epoch, settings.epochs)
        net.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        for i in range(0, len(train), batch_size):
            idx = order[i : i + batch_size]
            optimiser_step(net, weights, criterion, train, idx)
            if epoch >= settings.warmup_epochs:
                optimiser_step(net, architecture, criterion, val, next(val_batches))
        score = primary_score(predict_logits(net, val), val_labels, task, threshold)
        table = net.weights_table()
        genotype = net.derive()
        history.append(
            {
                "epoch": epoch + 1,
                "val_score": round(score, 5),
                "genotype": str(genotype),
                **decidedness(table),
                "weights": table,
            }
        )
        if score >= best_score:
            best_score, best_epoch, best = score, epoch + 1, genotype
            state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return SearchResult(best, best_epoch, arch_lr, time.perf_counter() - start, history, state)
