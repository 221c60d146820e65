"""The BM-NAS supernet: every choice mixed by softmax weights, and the rule that derives a genotype.

Architecture weights (`ArchitectureWeights`), all logits of softmaxes:
- alpha: cell k's input slots ``x`` and ``y``, each over its candidates (the views, then cells
  0..k-1) and ``none`` (the paper's Zero);
- beta: step j's input slots, each over the cell's nodes ``x``, ``y``, ``step.0``..``step.<j-1>`` and ``none``;
- gamma: step j's op, over `STEP_OPS`.
A slot's input is the weighted sum of its candidates (``none`` adds nothing); a step's output is
the weighted sum of its ops over its two inputs.

Derivation (`derive`): cell k reads the pair (i, j), i != j, with the largest product of slot x's
weight of i and slot y's weight of j, ``none`` left out; each step reads its two inputs by the same
rule (``step_inputs="distinct"``, the default: two different nodes) or, as the paper
(``step_inputs="paper"``), each slot's strongest node, the same node twice allowed (derived steps such as
``glu(y,y)`` then fuse nothing; benchmarks/RESULTS.md, "bmnas-step-inputs"), with its strongest op.
`decidedness` says how far the weights are from uniform: per choice, the margin of its strongest
candidate over the next.
"""

from __future__ import annotations

import torch
from torch import nn

from automm.data.tokens import mask_key
from automm.methods.bmnas.model import CellOutput, FeatureMap, classifier_head
from automm.methods.bmnas.ops import STEP_OPS, make_step_op
from automm.methods.bmnas.space import BMNASGenotype, BMNASRecipe, Cell, Step

NONE = "none"


class ArchitectureWeights(nn.Module):
    """alpha, beta and gamma for ``n_views`` views and a recipe's cells and steps (module docstring)."""

    def __init__(self, n_views: int, cells: int, steps: int) -> None:
        super().__init__()

        def logits(n: int) -> nn.Parameter:
            return nn.Parameter(1e-3 * torch.randn(n))

        self.alpha_x = nn.ParameterList([logits(n_views + k + 1) for k in range(cells)])
        self.alpha_y = nn.ParameterList([logits(n_views + k + 1) for k in range(cells)])
        self.beta_x = nn.ParameterList([logits(2 + j + 1) for _ in range(cells) for j in range(steps)])
        self.beta_y = nn.ParameterList([logits(2 + j + 1) for _ in range(cells) for j in range(steps)])
        self.gamma = nn.ParameterList([logits(len(STEP_OPS)) for _ in range(cells * steps)])
        self.steps = steps


def _mix(weights: torch.Tensor, candidates: list[torch.Tensor]) -> torch.Tensor:
    """The sum of ``candidates`` weighted by ``weights`` (one per candidate, then ``none``, which adds nothing)."""
    return torch.einsum("k,k...->...", weights[:-1], torch.stack(candidates))


class Choices:
    """The weights each choice of a forward pass uses, from its logits.

    ``softmax`` (the paper's continuous relaxation): softmax weights, every candidate and op computed.
    ``gumbel`` (GDAS-style sampling): in training, one candidate per choice drawn by the Gumbel-max trick,
    its weight 1 in the forward pass and the softmax's gradient in the backward pass (straight-through),
    so the shared weights train the networks a derivation yields; only the drawn op runs.
    ``fixed``: the one-hot weights of a derived genotype (``chosen``: choice name -> candidate index).
    """

    def __init__(self, mode: str, chosen: dict[str, int] | None = None) -> None:
        self.mode = mode
        self.chosen = chosen or {}

    def __call__(self, name: str, logits: torch.Tensor) -> torch.Tensor:
        if self.mode == "fixed":
            return torch.nn.functional.one_hot(torch.tensor(self.chosen[name]), logits.numel()).to(logits)
        if self.mode == "gumbel":
            return torch.nn.functional.gumbel_softmax(logits, tau=1.0, hard=True)
        return torch.softmax(logits, dim=0)


class MixedCell(nn.Module):
    """A cell with every step op on every step (their weights come from `ArchitectureWeights`)."""

    def __init__(self, steps: int, channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList([nn.ModuleList([make_step_op(op, channels) for op in STEP_OPS]) for _ in range(steps)])
        self.output = CellOutput(steps, channels)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, arch: ArchitectureWeights, first: int, choose: Choices
    ) -> torch.Tensor:
        """``first``: the index of this cell's first step in ``arch``'s beta and gamma lists."""
        nodes = [x, y]
        for j, ops in enumerate(self.ops):
            i = first + j
            a = _mix(choose(f"beta_x.{i}", arch.beta_x[i]), nodes)
            b = _mix(choose(f"beta_y.{i}", arch.beta_y[i]), nodes)
            w = choose(f"gamma.{i}", arch.gamma[i])
            if choose.mode == "softmax":
                nodes.append(sum(w[o] * op(a, b) for o, op in enumerate(ops)))  # type: ignore[misc]
            else:  # one op drawn: only it runs
                o = int(w.detach().argmax())
                nodes.append(w[o] * ops[o](a, b))
        return self.output(nodes[2:])


class BMNASSupernet(nn.Module):
    """Every view's feature map, mixed cells and the head, over the views ``view_dims`` names."""

    def __init__(
        self,
        recipe: BMNASRecipe,
        view_dims: dict[str, int],
        n_outputs: int,
        dropout: float,
        relaxation: str = "softmax",
        step_inputs: str = "distinct",
    ) -> None:
        super().__init__()
        self.recipe = recipe
        self.relaxation = relaxation
        self.step_inputs = step_inputs
        self.view_names = list(view_dims)
        c, n = recipe.channels, recipe.length
        self.maps = nn.ModuleDict({v: FeatureMap(d, c, n, dropout) for v, d in view_dims.items()})
        self.cells = nn.ModuleList([MixedCell(recipe.steps, c) for _ in range(recipe.cells)])
        self.head = classifier_head(recipe.cells, c, n, n_outputs, dropout)
        self.arch = ArchitectureWeights(len(view_dims), recipe.cells, recipe.steps)

    def weight_parameters(self) -> list[nn.Parameter]:
        """The network's weights (not the architecture's)."""
        arch = {id(p) for p in self.arch.parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        """Training: the relaxation's weights; eval mode: with ``softmax`` the mixture, with ``gumbel``
        the derived genotype (its choices one-hot), so a score is the score of what a derivation yields."""
        if not self.training and self.relaxation == "gumbel":
            choose = Choices("fixed", self.derived_choices())
        else:
            choose = Choices(self.relaxation if self.training else "softmax")
        states = [self.maps[v](views[v], views.get(mask_key(v))) for v in self.view_names]
        outs = []
        for k, cell in enumerate(self.cells):
            x = _mix(choose(f"alpha_x.{k}", self.arch.alpha_x[k]), states)
            y = _mix(choose(f"alpha_y.{k}", self.arch.alpha_y[k]), states)
            out = cell(x, y, self.arch, k * self.recipe.steps, choose)
            states.append(out)
            outs.append(out)
        return self.head(torch.cat(outs, dim=-1))

    def candidates(self, k: int) -> list[str]:
        """The names cell ``k`` may read: the views, then the earlier cells."""
        return self.view_names + [f"cell.{j}" for j in range(k)]

    def derived_choices(self) -> dict[str, int]:
        """The candidate index of every choice under the derivation rule (module docstring)."""
        arch, r = self.arch, self.recipe
        out: dict[str, int] = {}
        for k in range(r.cells):
            out[f"alpha_x.{k}"], out[f"alpha_y.{k}"] = _pair(arch.alpha_x[k], arch.alpha_y[k])
        for i in range(r.cells * r.steps):
            out[f"beta_x.{i}"], out[f"beta_y.{i}"] = _pair(
                arch.beta_x[i], arch.beta_y[i], distinct=self.step_inputs == "distinct"
            )
            out[f"gamma.{i}"] = int(arch.gamma[i].detach().argmax())
        return out

    def derive(self) -> BMNASGenotype:
        """The genotype the current weights choose (module docstring)."""
        r, chosen = self.recipe, self.derived_choices()
        cells = []
        for k in range(r.cells):
            names = self.candidates(k)
            steps = []
            for s in range(r.steps):
                i = k * r.steps + s
                nodes = ["x", "y"] + [f"step.{t}" for t in range(s)]
                op = STEP_OPS[chosen[f"gamma.{i}"]]
                steps.append(Step(op, nodes[chosen[f"beta_x.{i}"]], nodes[chosen[f"beta_y.{i}"]]))
            cells.append(Cell(names[chosen[f"alpha_x.{k}"]], names[chosen[f"alpha_y.{k}"]], tuple(steps)))
        return BMNASGenotype(r.channels, r.length, tuple(cells))

    def weights_table(self) -> dict[str, dict[str, float]]:
        """Every choice's softmax weights by candidate name (``none`` included), for the search's history."""
        arch, r = self.arch, self.recipe
        out: dict[str, dict[str, float]] = {}
        for k in range(r.cells):
            names = [*self.candidates(k), NONE]
            out[f"cell.{k}.x"] = _named(arch.alpha_x[k], names)
            out[f"cell.{k}.y"] = _named(arch.alpha_y[k], names)
            for s in range(r.steps):
                index = k * r.steps + s
                nodes = ["x", "y"] + [f"step.{t}" for t in range(s)] + [NONE]
                out[f"cell.{k}.step.{s}.x"] = _named(arch.beta_x[index], nodes)
                out[f"cell.{k}.step.{s}.y"] = _named(arch.beta_y[index], nodes)
                out[f"cell.{k}.step.{s}.op"] = _named(arch.gamma[index], list(STEP_OPS))
        return out


def _pair(x_logits: torch.Tensor, y_logits: torch.Tensor, distinct: bool = True) -> tuple[int, int]:
    """The candidates (i, j) with the largest product of slot x's weight of i and slot y's weight of j,
    ``none`` left out; two different ones when ``distinct``."""
    pair = torch.outer(_strengths(x_logits), _strengths(y_logits))
    if distinct:
        pair.fill_diagonal_(-1.0)
    i, j = divmod(int(pair.argmax()), pair.shape[1])
    return i, j


def _strengths(logits: torch.Tensor) -> torch.Tensor:
    """Softmax weights of the candidates other than ``none`` (the last entry)."""
    return torch.softmax(logits.detach(), dim=0)[:-1]


def _named(logits: torch.Tensor, names: list[str]) -> dict[str, float]:
    weights = torch.softmax(logits.detach().float(), dim=0).cpu().tolist()
    return {n: round(w, 4) for n, w in zip(names, weights, strict=True)}


def decidedness(table: dict[str, dict[str, float]]) -> dict[str, float]:
    """How decided a `BMNASSupernet.weights_table` is: over its choices with two or more candidates
    (``none`` left out, the rest renormalised), the mean and the smallest margin of the strongest over
    the next, and the mean strongest weight. Uniform weights give margins 0."""
    margins, tops = [], []
    for weights in table.values():
        values = sorted((w for n, w in weights.items() if n != NONE), reverse=True)
        total = sum(values)
        if len(values) < 2 or total <= 0:
            continue
        margins.append((values[0] - values[1]) / total)
        tops.append(values[0] / total)
    if not margins:
        return {"margin_mean": 1.0, "margin_min": 1.0, "top_mean": 1.0}
    return {
        "margin_mean": round(sum(margins) / len(margins), 4),
        "margin_min": round(min(margins), 4),
        "top_mean": round(sum(tops) / len(tops), 4),
    }
