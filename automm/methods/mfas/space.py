"""MFAS search space: a chain of L fusion layers, each fusing one feature per modality.

Layer l is ``(f_1, ..., f_M, sigma)``: one view of each modality and a nonlinearity from
{relu, sigmoid, leaky_relu}; ``h_l = sigma(W_l [x_{f_1}; ...; x_{f_M}; h_{l-1}])`` (no h_0).
With two modalities this is the MFAS paper's triplet; a data set with more modalities takes
one feature from each. The head maps ``h_L`` to logits. String form: layers joined by ``>``,
e.g. ``relu(image/l2+text/l1)>sigmoid(image/l3+text/l1)``.

Optuna encoding (fixed length): ``n_layers``; per layer l < L: ``layer_l_<modality>`` (one per
modality, the view) and ``layer_l_act``. Unused layers are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from automm.core.errors import AutommError
from automm.data.dataset import view_modality
from automm.methods.encoding import suggest_all

ACTIVATIONS: tuple[str, ...] = ("relu", "sigmoid", "leaky_relu")


@dataclass(frozen=True)
class MFASLayer:
    features: tuple[str, ...]  # one view per modality, in the space's modality order
    activation: str


@dataclass(frozen=True, repr=False)
class MFASGenotype:
    """A fusion chain; ``views`` lists the distinct views it reads."""

    layers: tuple[MFASLayer, ...]

    def __post_init__(self) -> None:
        if not self.layers:
            raise AutommError("an MFAS genotype needs at least one fusion layer")
        for layer in self.layers:
            if layer.activation not in ACTIVATIONS:
                raise AutommError(f"unknown activation {layer.activation!r}; known: {', '.join(ACTIVATIONS)}")

    @property
    def views(self) -> tuple[str, ...]:
        seen: list[str] = []
        for layer in self.layers:
            seen += [f for f in layer.features if f not in seen]
        return tuple(seen)

    def __str__(self) -> str:
        return ">".join(f"{layer.activation}({'+'.join(layer.features)})" for layer in self.layers)

    def __repr__(self) -> str:  # prints as its canonical string
        return str(self)

    @classmethod
    def from_string(cls, text: str) -> MFASGenotype:
        layers = []
        for part in text.split(">"):
            match = re.fullmatch(r"\s*([a-z_]+)\(([^()]+)\)\s*", part)
            if not match:
                raise AutommError(f"malformed MFAS genotype {text!r}; expected act(view+view)>act(...)")
            layers.append(MFASLayer(tuple(f.strip() for f in match.group(2).split("+")), match.group(1)))
        return cls(tuple(layers))


@dataclass(frozen=True)
class MFASSpace:
    """All chains of 1..``max_layers`` layers over ``view_names`` grouped by modality."""

    view_names: tuple[str, ...]
    max_layers: int = 4
    activations: tuple[str, ...] = ACTIVATIONS
    hidden: int = 16

    kind = "mfas"

    def __post_init__(self) -> None:
        object.__setattr__(self, "view_names", tuple(self.view_names))
        object.__setattr__(self, "activations", tuple(self.activations))
        if self.max_layers < 1:
            raise AutommError(f"the MFAS space needs at least one layer, got {self.max_layers}")
        unknown = [a for a in self.activations if a not in ACTIVATIONS]
        if unknown or not self.activations:
            raise AutommError(f"unknown activation(s) {unknown}; known: {', '.join(ACTIVATIONS)}")

    @property
    def modalities(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for v in self.view_names:
            out.setdefault(view_modality(v), []).append(v)
        return {m: tuple(vs) for m, vs in out.items()}

    def layer_choices(self) -> list[MFASLayer]:
        """Every possible layer (the paper's Gamma_1)."""
        combos: list[tuple[str, ...]] = [()]
        for views in self.modalities.values():
            combos = [(*c, v) for c in combos for v in views]
        return [MFASLayer(c, a) for c in combos for a in self.activations]

    def distributions(self) -> dict[str, BaseDistribution]:
        out: dict[str, BaseDistribution] = {"n_layers": IntDistribution(1, self.max_layers)}
        for i in range(self.max_layers):
            for m, views in self.modalities.items():
                out[f"layer_{i}_{m}"] = CategoricalDistribution(views)
            out[f"layer_{i}_act"] = CategoricalDistribution(self.activations)
        return out

    def suggest(self, trial: Any) -> MFASGenotype:
        return self.decode(suggest_all(trial, self.distributions()))

    def decode(self, params: dict[str, Any]) -> MFASGenotype:
        n = int(np.clip(int(params["n_layers"]), 1, self.max_layers))
        layers = tuple(
            MFASLayer(tuple(str(params[f"layer_{i}_{m}"]) for m in self.modalities), str(params[f"layer_{i}_act"]))
            for i in range(n)
        )
        return MFASGenotype(layers)

    def encode(self, genotype: MFASGenotype) -> dict[str, Any]:
        if not self.contains(genotype):
            raise AutommError(f"genotype {genotype} is not in this MFAS search space")
        params: dict[str, Any] = {"n_layers": len(genotype.layers)}
        for i in range(self.max_layers):
            layer = genotype.layers[i] if i < len(genotype.layers) else genotype.layers[-1]
            for m, f in zip(self.modalities, layer.features, strict=True):
                params[f"layer_{i}_{m}"] = f
            params[f"layer_{i}_act"] = layer.activation
        return params

    def contains(self, genotype: Any) -> bool:
        mods = list(self.modalities.values())
        return (
            isinstance(genotype, MFASGenotype)
            and len(genotype.layers) <= self.max_layers
            and all(
                len(layer.features) == len(mods)
                and all(f in vs for f, vs in zip(layer.features, mods, strict=True))
                and layer.activation in self.activations
                for layer in genotype.layers
            )
        )

    def random_genotype(self, rng: np.random.Generator) -> MFASGenotype:
        choices = self.layer_choices()
        n = int(rng.integers(1, self.max_layers + 1))
        return MFASGenotype(tuple(choices[int(rng.integers(len(choices)))] for _ in range(n)))

    @staticmethod
    def parse(text: str) -> MFASGenotype:
        return MFASGenotype.from_string(text)

    def tokens(self, genotype: MFASGenotype) -> np.ndarray:
        """One row per layer: one-hot view per modality, one-hot activation (the surrogate's input)."""
        mods = list(self.modalities.values())
        width = sum(len(vs) for vs in mods) + len(self.activations)
        out = np.zeros((len(genotype.layers), width), dtype=np.float32)
        for i, layer in enumerate(genotype.layers):
            offset = 0
            for f, vs in zip(layer.features, mods, strict=True):
                out[i, offset + vs.index(f)] = 1.0
                offset += len(vs)
            out[i, offset + self.activations.index(layer.activation)] = 1.0
        return out
