"""Optuna's own samplers (TPE, random search, NSGA-II) over the KS-NAS fusion-tree space, without a KB.

They search the space's genes. A new study stores the readable parameters (`ReadableTuner`,
``encoding.readable_params = true``); a study stored with genes resumes with genes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import optuna

from automm.core.errors import AutommError
from automm.methods.base import MethodOption
from automm.methods.ksnas.method import FusionTreeMethod
from automm.methods.ksnas.space import SearchSpace
from automm.methods.readable_tuner import ReadableTuner
from automm.settings import Preset, SearchConfig


@dataclass(frozen=True)
class EncodingSettings:
    """``readable_params``: a trial stores its architecture's readable parameters (`ReadableTuner`), not its genes."""

    readable_params: bool = True


class GeneTunerMethod(FusionTreeMethod):
    """One of Optuna's samplers over the fusion-tree genes, its trials stored with readable parameters
    unless the study was stored with genes (automm before readable parameters for these samplers)."""

    sections: ClassVar[dict[str, Any]] = {"encoding": EncodingSettings}

    def make_space(self, view_names: tuple[str, ...], config: SearchConfig) -> SearchSpace:
        readable = self.settings["encoding"].readable_params
        return SearchSpace(view_names, config.max_views, config.ops, readable=readable)

    def optuna_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """The wrapped Optuna sampler, seeded with ``seed``."""
        raise NotImplementedError

    def make_sampler(
        self, space: SearchSpace, seed: int, n_existing: int, lock_dir: Path | None
    ) -> optuna.samplers.BaseSampler:
        """Seeded with the study seed moved on by the trial count, so a resumed study does not replay its
        first proposals."""
        sampler = self.optuna_sampler(seed + n_existing)
        return ReadableTuner(sampler, space) if self.settings["encoding"].readable_params else sampler

    @classmethod
    def legacy_settings(cls, stored: dict[str, Any], preset: Preset) -> dict[str, Any]:
        """A study stored without an ``encoding`` section stored its genes: it resumes that way."""
        out = super().legacy_settings(stored, preset)
        if "encoding" not in stored:
            out["encoding"] = {"readable_params": False}
        return out


class OptunaTunerMethod(GeneTunerMethod):
    """One of Optuna's single-population samplers (`sampler_class`)."""

    sampler_class: ClassVar[type[optuna.samplers.BaseSampler]]

    def optuna_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return self.sampler_class(seed=seed)  # type: ignore[call-arg]


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


class NSGA2Method(GeneTunerMethod):
    """Optuna's NSGA-II sampler over the fusion-tree parameters."""

    name = "nsga2"
    title = "NSGA-II"
    sections: ClassVar[dict[str, Any]] = {"nsga2": NSGA2Settings, "encoding": EncodingSettings}
    options = (MethodOption("population", ("--population",), "nsga2", "population_size", int, "Population size N."),)

    @classmethod
    def default_settings(cls, preset: Preset) -> dict[str, Any]:
        """The preset's ``[nsga2]`` section, else its KS-NAS population size; readable parameters."""
        population = preset.section("nsga2").get("population_size", preset.section("ksnas").get("population_size"))
        nsga2 = asdict(NSGA2Settings(**({} if population is None else {"population_size": population})))
        return {"nsga2": nsga2, "encoding": asdict(EncodingSettings())}

    @classmethod
    def legacy_settings(cls, stored: dict[str, Any], preset: Preset) -> dict[str, Any]:
        """Studies from automm 0.1 kept NSGA-II's population in their ``ksnas`` section; a study stored
        without an ``encoding`` section stored its genes."""
        out: dict[str, Any] = {} if "encoding" in stored else {"encoding": {"readable_params": False}}
        if "nsga2" in stored:
            return out
        if "ksnas" in stored:
            return {**out, "nsga2": {"population_size": stored["ksnas"]["population_size"]}}
        return {**cls.default_settings(preset), **out}

    def optuna_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=self.settings["nsga2"].population_size)
