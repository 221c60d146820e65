"""Fixed-length Optuna encodings of architectures: suggesting them, and the samplers' shared plumbing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.samplers import RandomSampler

from automm.store import optuna_internals


def suggest_all(trial: Any, distributions: dict[str, BaseDistribution]) -> dict[str, Any]:
    """Suggest every parameter of a fixed-length encoding on an Optuna trial, in order (the sampler's
    proposal in one storage transaction where it can, `optuna_internals.suggest_together`)."""
    if isinstance(trial, optuna.Trial):
        together = optuna_internals.suggest_together(trial, distributions)
        if together is not None:
            return together
    params = {}
    for name, dist in distributions.items():
        if isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(name, dist.low, dist.high)
        else:
            params[name] = trial.suggest_categorical(name, dist.choices)  # type: ignore[attr-defined]
    return params


class SpaceSamplerMixin:
    """What automm's samplers over a fixed-length genotype encoding share.

    Call `_init_space` from ``__init__``. The relative search space is the encoding's parameters;
    a trial whose parameters are not exactly those (other code on the same study) and every
    independent parameter fall back to seeded random sampling. ``seed`` None draws one.
    """

    def _init_space(self, space: Any, seed: int | None, lock_dir: str | Path | None) -> None:
        self.space = space
        self.lock_dir = lock_dir  # the study's artifact folder, shared by its workers (`artifacts.study_lock`)
        self.seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (2**31))
        self._distributions = space.distributions()  # what a trial suggests
        # what the genetic operators work on: a space's genes where its parameters are readable names
        self._gene_distributions = getattr(space, "gene_distributions", space.distributions)()
        self._fallback = RandomSampler(seed=seed)

    def reseed_rng(self) -> None:
        self._fallback.reseed_rng()

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, BaseDistribution]:
        return dict(self._distributions)

    def is_own_space(self, search_space: dict[str, BaseDistribution]) -> bool:
        return set(search_space) == set(self._distributions)

    def sample_at_random(self, study: Any, trial: Any, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {n: self._fallback.sample_independent(study, trial, n, d) for n, d in search_space.items()}

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: BaseDistribution) -> Any:
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)
