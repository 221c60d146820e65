"""BM-NAS genotypes (what a search derives), recipes (how to search) and the Optuna space over recipes.

A `BMNASGenotype` is the derived network: C channels, L positions, and cells in order. Cell k reads
two different inputs among the views and the cells before it (``cell.<j>``); its steps read two of
the cell's nodes (``x``, ``y``, ``step.<j>`` before it; repeats allowed) and combine them with a
step op. It prints as, e.g.::

    bmnas(C=64,L=8,cell(image,text,concatfc(x,y)),cell(cell.0,text,glu(x,y),sum(step.0,y)))

View names hold none of ``(),. `` (`automm.data.dataset`), so ``cell.0`` never names a view.

A `BMNASRecipe` is one trial's Optuna parameters: the shape (C, L, cells, steps), a factor on the
architecture learning rate, and the search seed. `BMNASSpace.suggest` gives a recipe; the trial's
search turns it into a genotype (`automm.methods.bmnas.method`), which `BMNASSpace.parse` reads back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from automm.core.errors import AutommError
from automm.methods.bmnas.ops import STEP_OPS
from automm.methods.bmnas.settings import BMNASSettings
from automm.methods.recipes import RecipeSpace


@dataclass(frozen=True)
class Step:
    """``op(x, y)`` over two of the cell's nodes, named ``x``, ``y`` or ``step.<j>``."""

    op: str
    x: str
    y: str

    def __str__(self) -> str:
        return f"{self.op}({self.x},{self.y})"


@dataclass(frozen=True)
class Cell:
    """A cell over inputs ``x`` and ``y`` (views or ``cell.<j>``) and its steps."""

    x: str
    y: str
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return f"cell({self.x},{self.y},{','.join(str(s) for s in self.steps)})"


@dataclass(frozen=True, repr=False)
class BMNASGenotype:
    """A derived BM-NAS network (see module docstring); checked on construction."""

    channels: int
    length: int
    cells: tuple[Cell, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(self.cells))
        if self.channels < 1 or self.length < 1 or not self.cells:
            raise AutommError(f"a BM-NAS genotype needs C, L >= 1 and a cell: {self}")
        for k, cell in enumerate(self.cells):
            if cell.x == cell.y:
                raise AutommError(f"cell {k} of {self} reads {cell.x} twice; a cell's inputs differ")
            for name in (cell.x, cell.y):
                if name.startswith("cell.") and not (_index(name) < k):
                    raise AutommError(f"cell {k} of {self} reads {name}, which is not an earlier cell")
            if not cell.steps:
                raise AutommError(f"cell {k} of {self} has no steps")
            for j, step in enumerate(cell.steps):
                if step.op not in STEP_OPS:
                    raise AutommError(f"unknown BM-NAS step op {step.op!r}; known: {', '.join(STEP_OPS)}")
                for node in (step.x, step.y):
                    if node not in ("x", "y") and not (node.startswith("step.") and _index(node) < j):
                        raise AutommError(f"step {j} of cell {k} in {self} reads {node!r}, not an earlier node")

    @property
    def views(self) -> tuple[str, ...]:
        """The views some cell reads, in order of first use."""
        out: list[str] = []
        for cell in self.cells:
            out += [n for n in (cell.x, cell.y) if not n.startswith("cell.") and n not in out]
        return tuple(out)

    def __str__(self) -> str:
        return f"bmnas(C={self.channels},L={self.length},{','.join(str(c) for c in self.cells)})"

    def __repr__(self) -> str:
        return str(self)

    @classmethod
    def from_string(cls, text: str) -> BMNASGenotype:
        """Parse the string form (module docstring); a malformed string raises `AutommError`."""
        tokens = re.findall(r"[(),]|[^(),\s]+", str(text))
        pos = 0

        def take(expected: str | None = None) -> str:
            nonlocal pos
            if pos >= len(tokens) or (expected is not None and tokens[pos] != expected):
                raise AutommError(f"malformed BM-NAS genotype {text!r}")
            pos += 1
            return tokens[pos - 1]

        def number(prefix: str) -> int:
            token = take()
            if not token.startswith(prefix) or not token[len(prefix) :].isdigit():
                raise AutommError(f"malformed BM-NAS genotype {text!r}: expected {prefix}<number>")
            return int(token[len(prefix) :])

        take("bmnas")
        take("(")
        channels = number("C=")
        take(",")
        length = number("L=")
        cells = []
        while pos < len(tokens) and tokens[pos] == ",":
            take(",")
            take("cell")
            take("(")
            x = take()
            take(",")
            y = take()
            steps = []
            while pos < len(tokens) and tokens[pos] == ",":
                take(",")
                op = take()
                take("(")
                a = take()
                take(",")
                b = take()
                take(")")
                steps.append(Step(op, a, b))
            take(")")
            cells.append(Cell(x, y, tuple(steps)))
        take(")")
        if pos != len(tokens):
            raise AutommError(f"malformed BM-NAS genotype {text!r}: text after the end")
        return cls(channels, length, tuple(cells))


def _index(name: str) -> int:
    tail = name.partition(".")[2]
    if not tail.isdigit():
        raise AutommError(f"{name!r} names no cell or step")
    return int(tail)


@dataclass(frozen=True)
class BMNASRecipe:
    """How one trial searches: the network shape, a factor on the architecture learning rate, a seed."""

    channels: int
    length: int
    cells: int
    steps: int
    arch_lr_factor: float = 1.0
    seed: int = 0

    def __str__(self) -> str:
        return (
            f"C={self.channels} L={self.length} cells={self.cells} steps={self.steps} "
            f"arch_lr_x{self.arch_lr_factor:g} seed={self.seed}"
        )


class BMNASSpace(RecipeSpace):
    """Optuna parameters ``bmnas_*`` over recipes (`BMNASSettings.choices`), and genotype parsing."""

    prefix = "bmnas"
    genotype_type = BMNASGenotype
    title = "BM-NAS"

    def __init__(self, view_names: tuple[str, ...], settings: BMNASSettings) -> None:
        self.view_names = tuple(view_names)
        self.settings = settings
        self.grid = settings.choices()

    def default_recipe(self) -> BMNASRecipe:
        s = self.settings
        return BMNASRecipe(s.channels, s.length, s.cells, s.steps)
