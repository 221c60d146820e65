"""Tensors on the device, and training to convergence with early stopping."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from automm.core.device import seed_torch
from automm.core.errors import AutommError
from automm.core.metrics import primary_score
from automm.data.dataset import MultimodalDataset
from automm.data.preprocess import Standardizer
from automm.data.tokens import is_mask_key, mask_key
from automm.engine.optimiser import adam
from automm.settings import TrainConfig

__all__ = [
    "FitResult",
    "TensorData",
    "TrainConfig",
    "assign_weights",
    "count_parameters",
    "fit",
    "loss_function",
    "predict_logits",
    "train_epoch",
]


@dataclass
class TensorData:
    """Standardised views and labels of some rows, on one device; the padding masks (N, L) of its
    token views (N, L, d), if any (padded positions are 0 in ``views``)."""

    views: dict[str, torch.Tensor]
    labels: torch.Tensor
    masks: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, idx: torch.Tensor | slice) -> dict[str, torch.Tensor]:
        """What a network's ``forward`` takes for rows ``idx``: every view, and each token view's mask
        under ``<view>_mask`` (`automm.data.tokens.mask_key`)."""
        out = {k: v[idx] for k, v in self.views.items()}
        out |= {mask_key(k): m[idx] for k, m in self.masks.items()}
        return out

    def subset(self, idx: torch.Tensor) -> TensorData:
        """Rows ``idx`` of these tensors (indexed copies, on the same device)."""
        idx = idx.to(self.labels.device)
        return TensorData(
            views={k: v[idx] for k, v in self.views.items()},
            labels=self.labels[idx],
            masks={k: m[idx] for k, m in self.masks.items()},
        )

    @classmethod
    def from_dataset(
        cls, dataset: MultimodalDataset, rows: np.ndarray, standardizer: Standardizer, device: torch.device
    ) -> TensorData:
        views = standardizer.transform(dataset.views, rows, dataset.masks)
        labels = dataset.labels[rows]
        return cls(
            views={k: torch.from_numpy(v).to(device) for k, v in views.items()},
            labels=torch.from_numpy(labels).to(device),
            masks={k: torch.from_numpy(np.ascontiguousarray(m[rows])).to(device) for k, m in dataset.masks.items()},
        )


@dataclass
class FitResult:
    """Outcome of `fit`: the best validation score and when it was reached."""

    best_score: float
    best_epoch: int  # 1-based epoch of the best score (the weights kept)
    epochs: int  # epochs actually trained
    seconds: float
    curve: list[float] = field(default_factory=list)  # validation score per epoch
    initial_score: float | None = None  # before any training (scored for warm-started nets)
    stopped_at: int | None = None  # the epoch after which ``on_epoch`` stopped training, if it did


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def loss_function(task: str, label_smoothing: float = 0.0) -> nn.Module:
    if task == "multiclass":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    return nn.BCEWithLogitsLoss()


def drop_views(views: dict[str, torch.Tensor], rate: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Zero each view of each row with chance ``rate`` (standardised: zero is the mean), never all views of a
    row; a token view loses all its tokens. Padding masks (``<view>_mask``) pass through unchanged."""
    names = [k for k in views if not is_mask_key(k, views)]
    if rate <= 0 or len(names) < 2:
        return views
    n = views[names[0]].shape[0]
    dropped = torch.rand(n, len(names), generator=generator) < rate
    dropped[dropped.all(dim=1)] = False
    keep = (~dropped).to(views[names[0]].device)
    out = dict(views)
    for i, v in enumerate(names):
        shape = (n,) + (1,) * (views[v].ndim - 1)
        out[v] = views[v] * keep[:, i].reshape(shape).to(views[v].dtype)
    return out


class WeightAverage:
    """An exponential moving average of a network's weights (``decay`` per step, warmed up at the start)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.steps = 0
        self.average = copy.deepcopy(model)
        for p in self.average.parameters():
            p.requires_grad_(False)
        # both networks' tensors, read once: training updates them in place (see `_snapshot`)
        self._pairs = list(zip(self.average.state_dict().values(), model.state_dict().values(), strict=True))

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average towards the network it was made from."""
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for mine, theirs in self._pairs:
            if mine.dtype.is_floating_point:
                mine.mul_(decay).add_(theirs.detach(), alpha=1 - decay)
            else:
                mine.copy_(theirs)


def learning_rate_factor(schedule: str, epoch: int, horizon: int) -> float:
    """The multiplier of the base learning rate in (0-based) ``epoch`` of a ``horizon``-epoch schedule."""
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(epoch, horizon) / max(horizon, 1)))
    return 1.0


def train_epoch(
    model_for_batch: Callable[[], nn.Module],
    data: TensorData,
    optimiser: torch.optim.Optimizer,
    criterion: nn.Module,
    batch_size: int,
    generator: torch.Generator,
    *,
    view_dropout: float = 0.0,
    after_step: Callable[[], None] | None = None,
) -> int:
    """One pass over ``data`` in a shuffled order; each batch trains ``model_for_batch()``.

    `fit` passes the same network for every batch; supernet pretraining a fresh random subnet of
    shared modules. The caller puts the modules in training mode. ``view_dropout`` zeroes views of
    training rows (see `drop_views`); ``after_step`` runs after each optimiser step. Returns the
    number of batches.
    """
    order = torch.randperm(len(data), generator=generator).to(data.labels.device)
    batches = 0
    for i in range(0, len(data), batch_size):
        idx = order[i : i + batch_size]
        model = model_for_batch()
        optimiser.zero_grad(set_to_none=True)
        logits = model(drop_views(data.batch(idx), view_dropout, generator))
        loss = criterion(logits, data.labels[idx])
        loss.backward()
        optimiser.step()
        if after_step is not None:
            after_step()
        batches += 1
    return batches


def _snapshot(weights: dict[str, torch.Tensor], into: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """A copy of ``weights``, a network's state dict read once: its tensors are the network's own, updated
    in place by training (as the optimiser, which holds the parameters, already assumes), so a copy of
    them is a copy of the network's current weights and buffers, without walking its modules again.
    ``into``: an earlier snapshot of the same network, overwritten (no new tensors) and returned."""
    if into is None:
        return {k: v.clone() for k, v in weights.items()}
    with torch.no_grad():
        torch._foreach_copy_([into[k] for k in weights], list(weights.values()))
    return into


@torch.no_grad()
def assign_weights(
    weights: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], source: str = "the state"
) -> None:
    """Copy ``state``'s tensors into ``weights`` (a network's state dict: its own tensors) in place, converted
    to each one's dtype and device: `nn.Module.load_state_dict` for the keys of ``weights``, without walking
    the modules again. ``state`` may hold more keys; a missing key or another shape raises (naming ``source``)."""
    for name, tensor in weights.items():
        given = state.get(name)
        if given is None:
            raise AutommError(f"{source} has no layer {name!r}; was it built for another search space?")
        if given.shape != tensor.shape:
            raise AutommError(f"{source}'s layer {name!r} is {tuple(given.shape)}, the network's {tuple(tensor.shape)}")
        tensor.copy_(given)


def _plainly_switched(model: nn.Module) -> list[nn.Module] | None:
    """Every module of ``model`` once, where none overrides ``nn.Module.train`` (else None): `_train_mode`
    may then set their flags itself."""
    modules = list(model.modules())
    return modules if all(type(m).train is nn.Module.train for m in modules) else None


def _train_mode(model: nn.Module, modules: list[nn.Module] | None) -> None:
    """``model.train()``; with ``modules`` (`_plainly_switched`) the flag is set on each directly, without
    `nn.Module`'s recursion and attribute checks (a twentieth of the cost)."""
    if modules is None:
        model.train()
        return
    for module in modules:
        object.__setattr__(module, "training", True)


@torch.no_grad()
def predict_logits(model: nn.Module, data: TensorData, batch_size: int = 4096) -> np.ndarray:
    model.eval()
    outs = []
    for start in range(0, len(data), batch_size):
        outs.append(model(data.batch(slice(start, start + batch_size))).float().cpu())
    return torch.cat(outs).numpy()


def fit(
    model: nn.Module,
    train: TensorData,
    val: TensorData | None,
    task: str,
    config: TrainConfig,
    *,
    seed: int,
    epochs: int | None = None,
    on_epoch: Callable[[int, float], bool | None] | None = None,
    score_initial: bool = False,
) -> FitResult:
    """Train ``model`` in place and keep its best weights.

    With ``val``: up to ``config.max_epochs`` epochs, stopping after ``config.patience``
    epochs without a better validation score; the best epoch's weights are restored.
    Without ``val``: exactly ``epochs`` epochs (retraining on train+validation).
    ``score_initial`` scores the weights before training as epoch 0 (for warm starts): if no
    epoch beats them, they are kept and ``best_epoch`` is 0.
    ``on_epoch(epoch, score)`` is called after each epoch with a validation set (and after the
    initial score); it may return True to stop training now (the best weights so far are kept,
    as when the patience runs out) or raise (e.g. `optuna.TrialPruned`).
    """
    if val is None and epochs is None:
        raise ValueError("fit needs validation data or a fixed number of epochs")  # a programming error
    start = time.perf_counter()
    seed_torch(seed)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    optimiser = adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    criterion = loss_function(task, config.label_smoothing)
    max_epochs = epochs if epochs is not None else config.max_epochs
    average = WeightAverage(model, config.ema) if config.ema > 0 else None
    scored = average.average if average is not None else model  # the weights that are scored and kept
    best_score, best_epoch, best_state = -np.inf, 0, None
    curve: list[float] = []
    epoch = 0
    val_labels = val.labels.cpu().numpy() if val is not None else None
    modules = _plainly_switched(model)
    weights = scored.state_dict()  # read once: `_snapshot`
    own_weights = weights if average is None else model.state_dict()
    initial, stopped_at = None, None
    if val is not None and score_initial:
        initial = primary_score(predict_logits(model, val), val_labels, task, config.threshold)
        best_score, best_state = initial, _snapshot(own_weights)
        if average is not None:  # the average starts from the warm weights
            assign_weights(weights, best_state)
        if on_epoch is not None and on_epoch(0, initial):
            max_epochs, stopped_at = 0, 0
    for epoch in range(1, max_epochs + 1):
        for group in optimiser.param_groups:
            group["lr"] = config.lr * learning_rate_factor(config.schedule, epoch - 1, config.max_epochs)
        _train_mode(model, modules)  # scoring on validation data switched it to eval mode
        train_epoch(
            lambda: model,
            train,
            optimiser,
            criterion,
            config.batch_size,
            generator,
            view_dropout=config.view_dropout,
            after_step=None if average is None else average.update,
        )
        if val is None:
            continue
        score = primary_score(predict_logits(scored, val), val_labels, task, config.threshold)
        curve.append(score)
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = _snapshot(weights, into=best_state)  # read only once training ends
        if on_epoch is not None and on_epoch(epoch, score):
            stopped_at = epoch
            break
        if epoch - best_epoch >= config.patience:
            break
    if val is None and average is not None:
        best_state = average.average.state_dict()
    if best_state is not None:
        assign_weights(own_weights, best_state)
    if val is None:
        best_score, best_epoch = float("nan"), epoch
    return FitResult(float(best_score), best_epoch, epoch, time.perf_counter() - start, curve, initial, stopped_at)


def standardized(
    dataset: MultimodalDataset, fit_rows: np.ndarray, row_sets: Sequence[np.ndarray], device: torch.device
) -> tuple[Standardizer, list[TensorData]]:
    """A standardiser fitted on ``fit_rows`` (real tokens only), and one `TensorData` per set of rows
    it standardises: the one way automm turns rows into tensors."""
    standardizer = Standardizer.fit(dataset.views, fit_rows, dataset.masks)
    return standardizer, [TensorData.from_dataset(dataset, rows, standardizer, device) for rows in row_sets]
