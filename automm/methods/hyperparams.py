"""Joint architecture + training hyper-parameter search: a space that adds training settings to genotypes.

With ``SearchConfig.tune`` naming some of `TUNABLE`, every candidate is a `Candidate`: a method's
genotype plus values for those settings, each an Optuna parameter ``hp_<name>`` next to the
genotype's (samplers cross them over and mutate them like genes). The choices adapt to the
study's base settings (`choices`). A candidate prints as ``<genotype> | lr=0.003 fusion_dim=128``.
`resolve` gives what building and training one candidate needs: the method's own space and
genotype, and the settings with the candidate's values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution

from automm.core.errors import AutommError
from automm.methods.encoding import suggest_all
from automm.settings import TUNABLE, SearchConfig

PREFIX = "hp_"
SEPARATOR = " | "


def choices(config: SearchConfig) -> dict[str, tuple[Any, ...]]:
    """The values each tunable setting may take, around the study's base value."""
    decay = config.weight_decay or 1e-4
    return {
        "lr": tuple(float(f"{config.lr * f:.3g}") for f in (1 / 3, 1.0, 3.0)),
        "weight_decay": (0.0, float(f"{decay:.3g}"), float(f"{10 * decay:.3g}")),
        "dropout": tuple(sorted({0.0, 0.1, 0.3, 0.5, config.dropout})),
        "fusion_dim": tuple(sorted({max(8, config.fusion_dim // 2), config.fusion_dim, 2 * config.fusion_dim})),
    }


@dataclass(frozen=True, repr=False)
class Candidate:
    """A method's genotype and the training settings it is trained with (see module docstring)."""

    genotype: Any
    hparams: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        values = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.hparams)
        return f"{self.genotype}{SEPARATOR}{values}" if values else str(self.genotype)

    def __repr__(self) -> str:  # prints as its canonical string
        return str(self)

    def settings(self, config: SearchConfig) -> SearchConfig:
        return replace(config, **dict(self.hparams))


class TunedSpace:
    """A method's space plus the ``hp_*`` parameters of ``config.tune`` (other members: the inner space's)."""

    def __init__(self, inner: Any, config: SearchConfig) -> None:
        unknown = [n for n in config.tune if n not in TUNABLE]
        if unknown:
            raise AutommError(f"cannot tune {', '.join(unknown)}; tunable: {', '.join(TUNABLE)}")
        self.inner = inner
        self.base = config
        grid = choices(config)
        self.grid = {name: grid[name] for name in TUNABLE if name in config.tune}

    def __getattr__(self, name: str) -> Any:  # view_names, max_views, ops, kind, ...
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def distributions(self) -> dict[str, BaseDistribution]:
        return self._with_settings(self.inner.distributions())

    def gene_distributions(self) -> dict[str, BaseDistribution]:
        """The inner space's genes (its parameters, if it has no genes of its own) and the settings."""
        return self._with_settings(getattr(self.inner, "gene_distributions", self.inner.distributions)())

    def _with_settings(self, inner: dict[str, BaseDistribution]) -> dict[str, BaseDistribution]:
        return {**inner, **{PREFIX + n: CategoricalDistribution(v) for n, v in self.grid.items()}}

    def _candidate(self, genotype: Any, values: dict[str, Any]) -> Candidate:
        return Candidate(genotype, tuple((n, values[n]) for n in self.grid))

    def decode(self, params: dict[str, Any]) -> Candidate:
        return self._candidate(self.inner.decode(params), self._values(params))

    def decode_genes(self, genes: dict[str, Any]) -> Candidate:
        return self._candidate(getattr(self.inner, "decode_genes", self.inner.decode)(genes), self._values(genes))

    def _values(self, params: dict[str, Any]) -> dict[str, Any]:
        return {n: params.get(PREFIX + n, getattr(self.base, n)) for n in self.grid}

    def suggest(self, trial: Any) -> Candidate:
        return self.decode(suggest_all(trial, self.distributions()))

    def wrap(self, genotype: Any) -> Candidate:
        """A genotype with the base settings (e.g. an enqueued first try)."""
        if isinstance(genotype, Candidate):
            return genotype
        return self._candidate(genotype, {n: getattr(self.base, n) for n in self.grid})

    def encode(self, genotype: Any) -> dict[str, Any]:
        return self._encode(genotype, self.inner.encode)

    def encode_genes(self, genotype: Any) -> dict[str, Any]:
        return self._encode(genotype, getattr(self.inner, "encode_genes", self.inner.encode))

    def _encode(self, genotype: Any, inner_encode: Any) -> dict[str, Any]:
        candidate = self.wrap(genotype)
        values = dict(candidate.hparams)
        params = dict(inner_encode(candidate.genotype))
        for n, options in self.grid.items():
            if values[n] not in options:
                raise AutommError(f"{n}={values[n]} is not one of the choices {options}")
            params[PREFIX + n] = values[n]
        return params

    def size(self) -> int:
        """The inner space's genotypes times every combination of the searched settings."""
        return self.inner.size() * math.prod(len(options) for options in self.grid.values())

    def contains(self, genotype: Any) -> bool:
        candidate = self.wrap(genotype)
        values = dict(candidate.hparams)
        return self.inner.contains(candidate.genotype) and all(values[n] in o for n, o in self.grid.items())

    def random_genotype(self, rng: np.random.Generator) -> Candidate:
        values = {n: o[int(rng.integers(len(o)))] for n, o in self.grid.items()}
        return self._candidate(self.inner.random_genotype(rng), values)

    def parse(self, text: str) -> Candidate:
        head, _, tail = str(text).partition(SEPARATOR)
        values = {n: getattr(self.base, n) for n in self.grid}
        for item in tail.split():
            name, _, value = item.partition("=")
            if name not in self.grid:
                raise AutommError(f"{text!r}: {name!r} is not tuned in this study")
            values[name] = type(getattr(self.base, name))(float(value))
        return self._candidate(self.inner.parse(head), values)

    def tokens(self, genotype: Any) -> np.ndarray:
        """The inner genotype's tokens (the surrogate ranks architectures, not settings)."""
        return self.inner.tokens(self.wrap(genotype).genotype)


def method_space(space: Any) -> Any:
    """The method's own space (without the searched settings)."""
    return space.inner if isinstance(space, TunedSpace) else space


def resolve(space: Any, genotype: Any, config: SearchConfig) -> tuple[Any, Any, SearchConfig]:
    """(the method's space, the method's genotype, the settings ``genotype`` is trained with)."""
    if isinstance(space, TunedSpace):
        candidate = space.wrap(genotype)
        return space.inner, candidate.genotype, candidate.settings(config)
    return space, genotype, config
