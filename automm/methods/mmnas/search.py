"""The gated search of one trial (ProxylessNAS-style), then derivation.

Every training batch takes one weight step on a path sampled from the architecture probabilities
(Adam, cosine-annealed learning rate; only the sampled ops train). After the warm-up epochs each
weight step is followed by an architecture step: binary gates on a validation batch, the logits
updated through them (BinaryConnect; `automm.methods.mmnas.supernet`). After every epoch the
argmax network (eval mode) is scored on the validation rows and the probabilities are recorded.
The genotype derived after the last epoch is returned (the argmax op of every block), with the
history of every epoch. Test rows never reach it: it sees the trial's training and validation tensors.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from automm.core.device import seed_torch
from automm.core.metrics import primary_score
from automm.engine.optimiser import adam
from automm.engine.training import TensorData, loss_function, predict_logits
from automm.methods.mmnas.settings import MMNASSettings, arch_learning_rate
from automm.methods.mmnas.space import MMNASGenotype, MMNASRecipe
from automm.methods.mmnas.supernet import MMNASSupernet
from automm.methods.search_steps import anneal, endless_batches, optimiser_step


@dataclass
class GatedSearchResult:
    """A search's derived genotype and how it got there."""

    genotype: MMNASGenotype
    arch_lr: float
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per epoch
    state: dict[str, torch.Tensor] = field(default_factory=dict)  # the final supernet (CPU)

    def summary(self) -> dict[str, Any]:
        """A few numbers for the trial's attributes and note."""
        last = self.history[-1]
        return {
            "epochs": len(self.history),
            "arch_lr": float(f"{self.arch_lr:.3g}"),
            "supernet_val_curve": [h["val_score"] for h in self.history],
            "top_mean": last["top_mean"],
            "seconds": round(self.seconds, 2),
        }


def gated_search(
    recipe: MMNASRecipe,
    sides: tuple[tuple[str, ...], tuple[str, ...]],
    settings: MMNASSettings,
    train: TensorData,
    val: TensorData,
    task: str,
    *,
    n_outputs: int,
    batch_size: int,
    dropout: float,
    threshold: float,
    seed: int,
) -> GatedSearchResult:
    """Search with ``recipe`` over ``sides`` (the encoder's and the decoder's views; module docstring);
    the same inputs and seed give the same result on one device."""
    start = time.perf_counter()
    seed_torch(seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    device = train.labels.device
    view_dims = {v: int(t.shape[-1]) for v, t in train.views.items()}
    net = MMNASSupernet(
        sides[0],
        sides[1],
        view_dims,
        n_outputs,
        encoder_blocks=recipe.encoder_blocks,
        decoder_blocks=recipe.decoder_blocks,
        hidden=recipe.hidden,
        heads=settings.heads,
        ffn_ratio=settings.ffn_ratio,
        dropout=dropout,
    ).to(device)
    batches = math.ceil(len(train) / batch_size)
    arch_lr = arch_learning_rate(settings, batches * (settings.epochs - settings.warmup_epochs), recipe.arch_lr_factor)
    weights = adam(net.weight_parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    architecture = adam(net.arch.parameters(), lr=arch_lr, betas=(0.0, 0.999))
    criterion = loss_function(task)
    val_labels = val.labels.cpu().numpy()
    val_batches = endless_batches(len(val), batch_size, generator, device)
    history: list[dict[str, Any]] = []
    for epoch in range(settings.epochs):
        anneal(weights, settings.lr, settings.lr_min, epoch, settings.epochs)
        net.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        for i in range(0, len(train), batch_size):
            net.sample_path(generator)
            optimiser_step(net, weights, criterion, train, order[i : i + batch_size])
            if epoch >= settings.warmup_epochs:
                net.sample_gates(generator)
                optimiser_step(net, architecture, criterion, val, next(val_batches))
        net.path = net.gates = None
        score = primary_score(predict_logits(net, val), val_labels, task, threshold)
        probabilities = net.arch.probabilities()
        tops = [max(row) for side in probabilities.values() for row in side]
        history.append(
            {
                "epoch": epoch + 1,
                "val_score": round(score, 5),
                "genotype": str(net.derive()),
                "top_mean": round(sum(tops) / len(tops), 4),
                "probabilities": probabilities,
            }
        )
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return GatedSearchResult(net.derive(), arch_lr, time.perf_counter() - start, history, state)
