"""Samplers by name: Optuna's own now; KS-NAS and MFAS samplers join here."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from automm.errors import AutommError

SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed, population_size=20),
}


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (see `SAMPLERS`), seeded."""
    factory = SAMPLERS.get(name.lower())
    if factory is None:
        raise AutommError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    return factory(seed)
