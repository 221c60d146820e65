"""MFAS settings: the progressive schedule (K, E_search, L, temperatures) and candidate training (no torch import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from automm.settings import refuse_invalid


@dataclass(frozen=True)
class MFASSettings:
    """MFAS defaults from the paper and its code: K 15, E_search 3, L 4, T 10 -> 0.2, 2 epochs, width 16."""

    k: int = 15
    iterations: int = 3
    max_layers: int = 4
    t_max: float = 10.0
    t_min: float = 0.2
    epochs: int = 2
    hidden: int = 16
    weight_sharing: bool = True
    first_level_max: int = 100

    def __post_init__(self) -> None:
        checks = {
            "k": self.k >= 1,
            "iterations": self.iterations >= 1,
            "max_layers": self.max_layers >= 1,
            "t_min": 0 < self.t_min <= self.t_max,
            "epochs": self.epochs >= 1,
            "hidden": self.hidden >= 1,
        }
        refuse_invalid(self, checks, "MFAS setting")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def first_level_size(self, space: Any) -> int:
        n = len(space.layer_choices())
        return n if n <= self.first_level_max else self.k

    def level_sizes(self, space: Any) -> list[int]:
        """Trials per step at levels 1..L (a level holds at most the candidates unfolding allows)."""
        gamma = len(space.layer_choices())
        sizes = [self.first_level_size(space)]
        for _ in range(2, self.max_layers + 1):
            sizes.append(min(self.k, sizes[-1] * gamma))
        return sizes

    def total_trials(self, space: Any) -> int:
        return self.iterations * sum(self.level_sizes(space))

    def temperature(self, iteration: int, level: int) -> float:
        n = self.iterations * (self.max_layers - 1)
        if level < 2 or n <= 1:
            return self.t_min if n <= 1 else self.t_max
        index = iteration * (self.max_layers - 1) + (level - 2)
        return float(self.t_max * (self.t_min / self.t_max) ** (min(index, n - 1) / (n - 1)))
