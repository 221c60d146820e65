"""BM-NAS settings: the bilevel search's defaults and the ranges Optuna tunes them in (no torch import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from automm.settings import refuse_invalid

RELAXATIONS = ("softmax", "gumbel")  # see `automm.methods.bmnas.supernet.Choices`
STEP_INPUTS = ("distinct", "paper")  # see `automm.methods.bmnas.supernet.derive`
PAPER_ARCH_LR = 3e-4  # the paper's architecture learning rate (MM-IMDB, NTU, EgoGesture)


@dataclass(frozen=True)
class BMNASSettings:
    """The search a first trial runs (``--trials 1``: one plain BM-NAS run) and the search's schedule.

    ``channels`` (C), ``length`` (L), ``cells``, ``steps``: the network shape; ``arch_lr`` 0 picks it
    from the data (`arch_learning_rate`), a positive value fixes it. Network weights: Adam ``lr``
    annealed (cosine) to ``lr_min`` over ``epochs`` search epochs, ``weight_decay``; architecture
    weights: Adam with ``arch_weight_decay``, stepped on a validation batch after every weight step
    once ``warmup`` epochs (at most ``epochs`` - 1) have trained the weights alone; `warmup_epochs`.
    ``relaxation``: Gumbel sampling or the paper's softmax mixture; ``step_inputs``: a derived step reads
    two different nodes (``distinct``) or, as the paper, may read one node twice (``paper``).
    """

    channels: int = 64
    length: int = 8
    cells: int = 2
    steps: int = 2
    epochs: int = 20
    warmup: int = 2
    arch_lr: float = 0.0
    arch_weight_decay: float = 1e-3
    lr: float = 1e-3
    lr_min: float = 1e-6
    weight_decay: float = 1e-4
    relaxation: str = "gumbel"
    step_inputs: str = "distinct"

    def __post_init__(self) -> None:
        checks = {
            "channels": self.channels >= 2,
            "length": self.length >= 1,
            "cells": self.cells >= 1,
            "steps": self.steps >= 1,
            "epochs": self.epochs >= 1,
            "warmup": self.warmup >= 0,
            "arch_lr": self.arch_lr >= 0,
            "arch_weight_decay": self.arch_weight_decay >= 0,
            "lr": self.lr > 0,
            "lr_min": 0 <= self.lr_min <= self.lr,
            "weight_decay": self.weight_decay >= 0,
            "relaxation": self.relaxation in RELAXATIONS,
            "step_inputs": self.step_inputs in STEP_INPUTS,
        }
        refuse_invalid(self, checks, "BM-NAS setting")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def warmup_epochs(self) -> int:
        """The warm-up, leaving at least one epoch of architecture steps."""
        return min(self.warmup, self.epochs - 1)

    def choices(self) -> dict[str, tuple[Any, ...]]:
        """What Optuna may try for each searched setting: around the defaults, the defaults included."""
        return {
            "channels": tuple(sorted({max(2, self.channels // 2), self.channels, 2 * self.channels})),
            "length": tuple(sorted({max(1, self.length // 2), self.length, 2 * self.length})),
            "cells": tuple(sorted({max(1, self.cells - 1), self.cells, self.cells + 1})),
            "steps": tuple(sorted({max(1, self.steps - 1), self.steps, self.steps + 1})),
            "arch_lr_factor": (0.25, 1.0, 4.0),
        }


def arch_learning_rate(settings: BMNASSettings, arch_steps: int, factor: float = 1.0) -> float:
    """The architecture learning rate: ``settings.arch_lr`` if set, else one that lets Adam move a
    logit by about 3 over the search's ``arch_steps`` steps (never below the paper's 3e-4), times ``factor``.

    Adam moves a parameter by at most about its learning rate per step, so the paper's 3e-4 over the
    few hundred architecture steps of a small data set leaves the weights near uniform (the public
    code's weights on handwritten: 0.49-0.51 after 30 epochs). The rule adapts to the data's size.
    """
    base = settings.arch_lr if settings.arch_lr > 0 else max(PAPER_ARCH_LR, 3.0 / max(arch_steps, 1))
    return base * factor
