"""Optuna's own samplers (TPE, random search, NSGA-II) over the KS-NAS fusion-tree space, without a KB."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import optuna

from automm.core.errors import AutommError
from automm.methods.base import MethodOption
from automm.methods.ksnas.method import FusionTreeMethod
from automm.methods.ksnas.space import SearchSpace
from automm.settings import Preset


class OptunaTunerMethod(FusionTreeMethod):
    """One of Optuna's single-population samplers, seeded with the study seed moved on by the trial
    count, so a resumed study does not replay its first proposals."""

    sampler_class: ClassVar[type[optuna.samplers.BaseSampler]]

    def make_sampler(
        self, space: SearchSpace, seed: int, n_existing: int, lock_dir: Path | None
    ) -> optuna.samplers.BaseSampler:
        return self.sampler_class(seed=seed + n_existing)  # type: ignore[call-arg]


class TPEMethod(OptunaTunerMethod):
    """Optuna's TPE sampler over the fusion-tree parameters."""

    name = "tpe"
    title = "TPE"
    sampler_class = optuna.samplers.TPESampler


class RandomMethod(OptunaTunerMethod):
    """Uniform random search over the fusion-tree parameters."""

    name = "random"
    title = "random search"
    sampler_class = optuna.samplers.RandomSampler


@dataclass(frozen=True)
class NSGA2Settings:
    population_size: int = 20

    def __post_init__(self) -> None:
        if self.population_size < 2:
            raise AutommError(f"the population needs at least 2 individuals, got {self.population_size}")


class NSGA2Method(FusionTreeMethod):
    """Optuna's NSGA-II sampler over the fusion-tree parameters."""

    name = "nsga2"
    title = "NSGA-II"
    sections: ClassVar[dict[str, Any]] = {"nsga2": NSGA2Settings}
    options = (MethodOption("population", ("--population",), "nsga2", "population_size", int, "Population size N."),)

    @classmethod
    def default_settings(cls, preset: Preset) -> dict[str, Any]:
        """The preset's ``[nsga2]`` section, else its KS-NAS population size."""
        population = preset.section("nsga2").get("population_size", preset.section("ksnas").get("population_size"))
        return {"nsga2": asdict(NSGA2Settings(**({} if population is None else {"population_size": population})))}

    @classmethod
    def legacy_settings(cls, stored: dict[str, Any], preset: Preset) -> dict[str, Any]:
        """Studies from automm 0.1 kept NSGA-II's population in their ``ksnas`` section."""
        if "nsga2" in stored:
            return {}
        if "ksnas" in stored:
            return {"nsga2": {"population_size": stored["ksnas"]["population_size"]}}
        return cls.default_settings(preset)

    def make_sampler(
        self, space: SearchSpace, seed: int, n_existing: int, lock_dir: Path | None
    ) -> optuna.samplers.BaseSampler:
        population = self.settings["nsga2"].population_size
        return optuna.samplers.NSGAIISampler(seed=seed + n_existing, population_size=population)
