"""MMnas settings: the gated search's defaults and the ranges Optuna tunes them in (no torch import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from automm.settings import refuse_invalid

ARCH_LR_FLOOR = 1e-3  # ProxylessNAS's architecture learning rate (Adam)


@dataclass(frozen=True)
class MMNASSettings:
    """The search a first trial runs (``--trials 1``: one plain MMnas run) and its schedule.

    Shape: ``encoder_blocks`` E and ``decoder_blocks`` D (each block is one op, searched),
    ``hidden`` H channels, ``heads`` attention heads, feed-forward width ``ffn_ratio`` x H. Two
    blocks of the encoder and three of the decoder make one layer of the fixed MCAN pattern
    (SA, FFN | SA, GA, FFN). Schedule: ``epochs`` search epochs of weight steps (Adam ``lr`` annealed
    to ``lr_min``, ``weight_decay``), one sampled path per step; after ``warmup`` epochs (at most
    ``epochs`` - 1), every weight step is followed by an architecture step on a validation batch
    (Adam, ``arch_lr``; 0 picks it from the data, `arch_learning_rate`).
    """

    encoder_blocks: int = 2
    decoder_blocks: int = 3
    hidden: int = 32
    heads: int = 4
    ffn_ratio: int = 2
    epochs: int = 10
    warmup: int = 2
    arch_lr: float = 0.0
    lr: float = 1e-3
    lr_min: float = 1e-5
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        checks = {
            "encoder_blocks": self.encoder_blocks >= 1,
            "decoder_blocks": self.decoder_blocks >= 1,
            "hidden": self.hidden >= 2,
            "heads": self.heads >= 1 and self.hidden % self.heads == 0,
            "ffn_ratio": self.ffn_ratio >= 1,
            "epochs": self.epochs >= 1,
            "warmup": self.warmup >= 0,
            "arch_lr": self.arch_lr >= 0,
            "lr": self.lr > 0,
            "lr_min": 0 <= self.lr_min <= self.lr,
            "weight_decay": self.weight_decay >= 0,
        }
        refuse_invalid(self, checks, "MMnas setting (heads must divide hidden)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def warmup_epochs(self) -> int:
        """The warm-up, leaving at least one epoch of architecture steps."""
        return min(self.warmup, self.epochs - 1)

    def choices(self) -> dict[str, tuple[Any, ...]]:
        """What Optuna may try for each searched setting: around the defaults, the defaults included."""
        hidden = sorted({h for h in (self.hidden // 2, self.hidden, 2 * self.hidden) if h >= self.heads})
        return {
            "encoder_blocks": tuple(
                sorted({max(1, self.encoder_blocks - 2), self.encoder_blocks, self.encoder_blocks + 2})
            ),
            "decoder_blocks": tuple(
                sorted({max(1, self.decoder_blocks - 3), self.decoder_blocks, self.decoder_blocks + 3})
            ),
            "hidden": tuple(h for h in hidden if h % self.heads == 0),
            "arch_lr_factor": (0.25, 1.0, 4.0),
        }


def arch_learning_rate(settings: MMNASSettings, arch_steps: int, factor: float = 1.0) -> float:
    """``settings.arch_lr`` if set, else one that lets Adam move a logit by about 3 over the search's
    ``arch_steps`` architecture steps (never below ProxylessNAS's 1e-3), times ``factor``: Adam moves a
    parameter by about its learning rate per step, so a fixed rate under-decides small data sets."""
    base = settings.arch_lr if settings.arch_lr > 0 else max(ARCH_LR_FLOOR, 3.0 / max(arch_steps, 1))
    return base * factor
