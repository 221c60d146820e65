"""Samplers by name: automm's KS-NAS sampler and Optuna's own."""

from __future__ import annotations

import optuna

from automm.errors import AutommError
from automm.samplers.ksnas import KSNASSampler, KSNASSettings, trial_generation
from automm.samplers.mfas import MFASSampler, MFASSettings
from automm.space import SearchSpace
from automm.space_mfas import MFASSpace

SAMPLERS: tuple[str, ...] = ("ksnas", "mfas", "tpe", "random", "nsga2")
DEFAULT_SAMPLER = "ksnas"


def make_sampler(
    name: str,
    seed: int,
    space: SearchSpace | MFASSpace,
    ksnas: KSNASSettings | None = None,
    mfas: MFASSettings | None = None,
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (one of `SAMPLERS`), seeded; ``mfas`` needs an `MFASSpace`."""
    name = name.lower()
    if name == "ksnas":
        assert isinstance(space, SearchSpace)
        return KSNASSampler(space, ksnas or KSNASSettings(), seed=seed)
    if name == "mfas":
        assert isinstance(space, MFASSpace)
        return MFASSampler(space, mfas or MFASSettings(), seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=(ksnas or KSNASSettings()).population_size)
    raise AutommError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")


__all__ = [
    "DEFAULT_SAMPLER",
    "SAMPLERS",
    "KSNASSampler",
    "KSNASSettings",
    "MFASSampler",
    "MFASSettings",
    "make_sampler",
    "trial_generation",
]
