"""The linear network: logistic regression over the concatenated views, as a PyTorch module.

`LinearNet` is one ``nn.Linear`` over the concatenation of its views (a token view enters as the mean
of its real tokens); `fit_linear` fits it to convergence by full-batch L-BFGS from zero weights or from
a given fit's (the problem is convex). Its L2 strength ``c`` has scikit-learn's meaning: the loss is the summed log loss
plus ``|W|^2 / (2 c)``; the bias is not penalised. `automm.delivery.linear_candidate` chooses ``c``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from automm.core.errors import AutommError
from automm.data.tokens import mask_key, pool_token_tensor
from automm.engine.training import TensorData

FAMILY = "linear"
MAX_ITER = 300  # L-BFGS iterations per fit; a well-conditioned fit stops far earlier


@dataclass(frozen=True, repr=False)
class LinearGenotype:
    """The linear candidate over ``views`` (in this order); its string is ``linear(a,b,...)``."""

    views: tuple[str, ...]

    def __str__(self) -> str:
        return f"{FAMILY}({','.join(self.views)})"

    def __repr__(self) -> str:  # prints as its canonical string
        return str(self)

    @classmethod
    def parse(cls, text: str) -> LinearGenotype:
        if not is_linear(text):
            raise AutommError(f"{text!r} is not a linear candidate (linear(<view>,...))")
        views = tuple(v.strip() for v in text.strip()[len(FAMILY) + 1 : -1].split(",") if v.strip())
        if not views:
            raise AutommError(f"{text!r} names no view")
        return cls(views)


def is_linear(text: Any) -> bool:
    """Whether ``text`` (a genotype or its string) is the linear candidate."""
    return isinstance(text, LinearGenotype) or (
        isinstance(text, str) and text.startswith(f"{FAMILY}(") and text.endswith(")")
    )


class LinearNet(nn.Module):
    """Logits = one linear layer over the concatenation of the views in ``view_order``; a token view
    (N, L, d) enters as the mean of its real tokens (its ``<view>_mask`` in the input marks them)."""

    def __init__(self, view_dims: dict[str, int], views: Sequence[str], n_outputs: int) -> None:
        super().__init__()
        self.genotype = LinearGenotype(tuple(views))
        self.view_order = list(views)
        self.linear = nn.Linear(sum(int(view_dims[v]) for v in views), n_outputs)

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.linear(_concatenated(views, self.view_order))

    @classmethod
    def from_export(cls, meta: dict[str, Any]) -> LinearNet:
        """A fresh `LinearNet` for an export member (``genotype``, ``view_dims``, ``class_names``)."""
        genotype = LinearGenotype.parse(str(meta.get("genotype")))
        dims = meta["view_dims"]
        if not set(genotype.views) <= set(dims):
            raise AutommError("the linear member's views do not match the recorded views")
        return cls(dims, genotype.views, len(meta["class_names"]))


def _concatenated(views: dict[str, torch.Tensor], names: Sequence[str]) -> torch.Tensor:
    return torch.cat([pool_token_tensor(views[v], views.get(mask_key(v))) for v in names], dim=1)


def fit_linear(
    data: TensorData, views: Sequence[str], task: str, n_outputs: int, c: float, start: LinearNet | None = None
) -> LinearNet:
    """Logistic regression (softmax for multiclass, one sigmoid per label for multilabel) with
    L2 strength ``c`` on ``data``, fitted to convergence by L-BFGS from zero weights, or from ``start``'s
    (the fit of a neighbouring ``c`` on the same rows and views: the same optimum, the problem is
    convex, reached in fewer iterations)."""
    if c <= 0:
        raise AutommError(f"C must be positive, got {c}")
    device = data.labels.device
    net = LinearNet({v: int(data.views[v].shape[-1]) for v in views}, views, n_outputs).to(device)
    if start is None:
        nn.init.zeros_(net.linear.weight)
        nn.init.zeros_(net.linear.bias)
    else:
        net.load_state_dict(start.state_dict())
    x = _concatenated(data.batch(slice(None)), views)
    n = x.shape[0]
    if task == "multiclass":
        labels = data.labels.long()
        data_loss = nn.CrossEntropyLoss(reduction="sum")
    else:
        labels = data.labels.float()
        data_loss = nn.BCEWithLogitsLoss(reduction="sum")
    optimizer = torch.optim.LBFGS(
        net.parameters(),
        lr=1.0,
        max_iter=MAX_ITER,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-5,
        tolerance_change=1e-9,
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (data_loss(net.linear(x), labels) + net.linear.weight.pow(2).sum() / (2 * c)) / n
        loss.backward()
        return loss

    net.train()
    optimizer.step(closure)
    return net.eval()
