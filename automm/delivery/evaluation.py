"""Test scores of a retrained model, and the rows `automm retrain` reports them in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Evaluation:
    """Test scores of one genotype (or ensemble) retrained on train+validation, over several seeds."""

    genotype: str
    metric: str
    scores: list[float]
    mean: float
    std: float
    epochs: int
    warm_started: bool
    details: list[dict[str, float]]

    def __str__(self) -> str:
        seeds = f" ± {self.std:.4f} over {len(self.scores)} seeds" if len(self.scores) > 1 else ""
        return f"test {self.metric} {self.mean:.4f}{seeds}: {self.genotype}"


def retrain_row(rank: int, ev: Evaluation, val: float | None, start: str) -> dict[str, Any]:
    """One row of `FinalTrainer.retrain`: rank (0: the ensemble), validation score, start, test scores."""
    fields = ("genotype", "epochs", "metric", "mean", "std", "scores")
    return {"rank": rank, "val": val, "start": start, **{k: getattr(ev, k) for k in fields}}
