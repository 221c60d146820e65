"""MMnas genotypes (what a search derives), recipes (how to search) and the Optuna space over recipes.

A `MMNASGenotype` is the derived network: hidden size H, heads, which views feed the encoder (x)
and which the decoder (y), and the op of every encoder and decoder block. It prints as, e.g.::

    mmnas(H=32,heads=4,x(image/grid),y(audio/frames),enc(sa,ffn,sa,ffn),dec(sa,ga,ffn,sa,ga,ffn))

View names hold none of ``(),. `` (`automm.data.dataset`), so the groups parse unambiguously.

A `MMNASRecipe` is one trial's Optuna parameters: the shape (E, D, H), which group of views the
encoder reads (a modality, or a view when the data set has one modality), a factor on the
architecture learning rate and the search seed. `MMNASSpace.suggest` gives a recipe; the trial's
search turns it into a genotype (`automm.methods.mmnas.method`), which `MMNASSpace.parse` reads back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from automm.core.errors import AutommError
from automm.data.dataset import view_modality
from automm.methods.mmnas.ops import DECODER_OPS, ENCODER_OPS
from automm.methods.mmnas.settings import MMNASSettings
from automm.methods.recipes import RecipeSpace

_GENOTYPE = re.compile(r"mmnas\(H=(\d+),heads=(\d+),x\(([^()]*)\),y\(([^()]*)\),enc\(([^()]*)\),dec\(([^()]*)\)\)")


@dataclass(frozen=True)
class MMNASGenotype:
    """The derived encoder-decoder (module docstring)."""

    hidden: int
    heads: int
    x_views: tuple[str, ...]
    y_views: tuple[str, ...]
    encoder: tuple[str, ...]
    decoder: tuple[str, ...]

    def __post_init__(self) -> None:
        problems = []
        if not self.x_views or not self.y_views:
            problems.append("both sides need views")
        if set(self.x_views) & set(self.y_views):
            problems.append("a view feeds both sides")
        if not self.encoder or not self.decoder:
            problems.append("both sides need blocks")
        if any(op not in ENCODER_OPS for op in self.encoder):
            problems.append(f"encoder ops must be among {', '.join(ENCODER_OPS)}")
        if any(op not in DECODER_OPS for op in self.decoder):
            problems.append(f"decoder ops must be among {', '.join(DECODER_OPS)}")
        if self.hidden < 2 or self.heads < 1 or self.hidden % self.heads:
            problems.append("heads must divide the hidden size")
        if problems:
            raise AutommError(f"invalid MMnas genotype {self}: {'; '.join(problems)}")

    @property
    def views(self) -> tuple[str, ...]:
        return self.x_views + self.y_views

    def __str__(self) -> str:
        return (
            f"mmnas(H={self.hidden},heads={self.heads},x({','.join(self.x_views)}),y({','.join(self.y_views)}),"
            f"enc({','.join(self.encoder)}),dec({','.join(self.decoder)}))"
        )

    @classmethod
    def from_string(cls, text: str) -> MMNASGenotype:
        match = _GENOTYPE.fullmatch(str(text).replace(" ", ""))
        if match is None:
            raise AutommError(f"malformed MMnas genotype {text!r}; expected e.g. {EXAMPLE}")
        hidden, heads, x, y, enc, dec = match.groups()
        return cls(int(hidden), int(heads), *(tuple(p for p in g.split(",") if p) for g in (x, y, enc, dec)))


EXAMPLE = "mmnas(H=32,heads=4,x(image),y(text),enc(sa,ffn),dec(sa,ga,ffn))"


def mcan_pattern(encoder_blocks: int, decoder_blocks: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """MCAN's fixed ops for E encoder and D decoder blocks: SA, FFN repeated; SA, GA, FFN repeated."""
    return (
        tuple(("sa", "ffn")[i % 2] for i in range(encoder_blocks)),
        tuple(("sa", "ga", "ffn")[i % 3] for i in range(decoder_blocks)),
    )


@dataclass(frozen=True)
class MMNASRecipe:
    """How one trial searches: the shape, the encoder's group of views, an arch lr factor, a seed."""

    encoder_blocks: int
    decoder_blocks: int
    hidden: int
    encoder_side: str
    arch_lr_factor: float = 1.0
    seed: int = 0

    def __str__(self) -> str:
        return (
            f"E={self.encoder_blocks} D={self.decoder_blocks} H={self.hidden} x={self.encoder_side} "
            f"arch_lr_x{self.arch_lr_factor:g} seed={self.seed}"
        )


def view_groups(view_names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The groups the encoder may read, by name: the modalities when there are two or more, else the views."""
    modalities: dict[str, list[str]] = {}
    for v in view_names:
        modalities.setdefault(view_modality(v), []).append(v)
    if len(modalities) >= 2:
        return {m: tuple(vs) for m, vs in modalities.items()}
    return {v: (v,) for v in view_names}


class MMNASSpace(RecipeSpace):
    """Optuna parameters ``mmnas_*`` over recipes (`MMNASSettings.choices` and the view groups), and parsing."""

    prefix = "mmnas"
    genotype_type = MMNASGenotype
    title = "MMnas"

    def __init__(self, view_names: tuple[str, ...], settings: MMNASSettings) -> None:
        if len(view_names) < 2:
            raise AutommError("MMnas fuses two or more views; this data set has one")
        self.view_names = tuple(view_names)
        self.settings = settings
        self.groups = view_groups(self.view_names)
        self.grid: dict[str, tuple[Any, ...]] = {**settings.choices(), "encoder_side": tuple(self.groups)}

    def sides(self, recipe: MMNASRecipe) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(the encoder's views, the decoder's views) of ``recipe``: the rest of the views go to the decoder."""
        x = self.groups[recipe.encoder_side]
        return x, tuple(v for v in self.view_names if v not in x)

    def default_recipe(self) -> MMNASRecipe:
        s = self.settings
        return MMNASRecipe(s.encoder_blocks, s.decoder_blocks, s.hidden, next(iter(self.groups)))
