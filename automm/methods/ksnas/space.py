"""KS-NAS search space: `Genotype` and its fixed-length Optuna parameter encoding.

A genotype chooses k distinct views and k-1 binary fusion nodes forming a full binary tree:
every view and every node but the last feeds exactly one later node; the last node (or
the single view when k = 1) feeds the classifier head. Inputs are numbered as *slots*:
``0..k-1`` are the views, ``k + j`` is node j.

Genotypes are canonical on construction: the operands of every node are ordered by their
expression string and nodes are numbered in post-order, so equal architectures are equal
objects with equal strings, e.g. ``concat(add(a/x,b/y),c/z)``.

Two fixed-length encodings, the same parameters in every trial:

- *Genes* (what the samplers cross over and mutate; unused ones are ignored): ``n_views``; ``view_i``
  for i < max_views; ``node_j_left``, ``node_j_right``, ``node_j_op`` for j < max_views - 1. Node j
  picks its two inputs by position in the pool of slots not yet consumed (indices taken modulo the
  pool size), so every assignment decodes to a valid tree.
- *Readable parameters* (``readable=True``, what a KS-NAS study stores, so optuna-dashboard's Best
  Trial card and parameter importance read as the architecture): ``view_1`` .. ``view_m`` name the
  views used, in canonical order; ``node_1`` .. ``node_{m-1}`` the fusion operators in post-order, each
  with ``node_j_left`` and ``node_j_right`` naming its inputs (a view or an earlier ``node_i``); an
  unused slot is ``-``. E.g. ``view_1 = a/x``, ``view_2 = b/y``, ``node_1 = concat``, ``node_1_left =
  a/x``, ``node_1_right = b/y``. A proposal that names an input not available there (only another
  sampler makes one) is repaired to the first input that is. Studies stored with genes keep them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from automm.core.errors import AutommError
from automm.data.dataset import FORBIDDEN_IN_VIEW_NAMES
from automm.methods.encoding import suggest_all
from automm.settings import FUSION_OPS, KNOWN_OPS

OPS: tuple[str, ...] = KNOWN_OPS  # every operator a genotype may use; a space's default: FUSION_OPS


@dataclass(frozen=True)
class FusionNode:
    """Fuses slots ``left`` and ``right`` with operator ``op``."""

    left: int
    right: int
    op: str


@dataclass(frozen=True, repr=False)
class Genotype:
    """A fusion architecture in canonical form (see module docstring)."""

    views: tuple[str, ...]
    nodes: tuple[FusionNode, ...] = ()

    def __post_init__(self) -> None:
        views, nodes = tuple(self.views), tuple(self.nodes)
        _check_structure(views, nodes)
        canon_views, canon_nodes = _canonicalise(views, nodes)
        object.__setattr__(self, "views", canon_views)
        object.__setattr__(self, "nodes", canon_nodes)

    @property
    def k(self) -> int:
        return len(self.views)

    def __str__(self) -> str:
        return _expr(self.views, self.nodes, len(self.views) + len(self.nodes) - 1)

    def __repr__(self) -> str:  # prints as its canonical string
        return str(self)

    @classmethod
    def from_string(cls, text: str) -> Genotype:
        """Parse the string form (``op(x,y)`` with view names as leaves)."""
        views: list[str] = []
        nodes: list[FusionNode] = []
        tokens = re.findall(r"[(),]|[^(),\s]+", text)
        pos = 0

        def parse() -> tuple[str, Any]:
            nonlocal pos
            if pos >= len(tokens) or tokens[pos] in "(),":
                raise AutommError(f"malformed genotype string {text!r}")
            name = tokens[pos]
            pos += 1
            if pos < len(tokens) and tokens[pos] == "(":
                if name not in OPS:
                    raise AutommError(f"unknown fusion operator {name!r} in {text!r}; known: {', '.join(OPS)}")
                pos += 1
                left = parse()
                if pos >= len(tokens) or tokens[pos] != ",":
                    raise AutommError(f"malformed genotype string {text!r}")
                pos += 1
                right = parse()
                if pos >= len(tokens) or tokens[pos] != ")":
                    raise AutommError(f"malformed genotype string {text!r}")
                pos += 1
                return ("node", (name, left, right))
            return ("view", name)

        tree = parse()
        if pos != len(tokens):
            raise AutommError(f"malformed genotype string {text!r}")
        # Assign slots: views first (in leaf order), then nodes in post-order.
        leaves: list[str] = []

        def collect(t: tuple[str, Any]) -> None:
            if t[0] == "view":
                leaves.append(t[1])
            else:
                collect(t[1][1])
                collect(t[1][2])

        collect(tree)
        views = leaves
        k = len(views)
        counter = iter(range(len(views)))

        def build(t: tuple[str, Any]) -> int:
            if t[0] == "view":
                return next(counter)
            op, left, right = t[1]
            a, b = build(left), build(right)
            nodes.append(FusionNode(a, b, op))
            return k + len(nodes) - 1

        build(tree)
        return cls(tuple(views), tuple(nodes))


def _check_structure(views: tuple[str, ...], nodes: tuple[FusionNode, ...]) -> None:
    k = len(views)
    if k == 0:
        raise AutommError("a genotype needs at least one view")
    if len(set(views)) != k:
        raise AutommError(f"genotype views must be distinct, got {list(views)}")
    for v in views:
        if any(c in v for c in FORBIDDEN_IN_VIEW_NAMES) or not v:
            raise AutommError(f"view name {v!r} must not contain any of {FORBIDDEN_IN_VIEW_NAMES!r}")
    if len(nodes) != k - 1:
        raise AutommError(f"a genotype with {k} views needs {k - 1} fusion nodes, got {len(nodes)}")
    used = [0] * (k + len(nodes))
    for j, node in enumerate(nodes):
        if node.op not in OPS:
            raise AutommError(f"unknown fusion operator {node.op!r}; known: {', '.join(OPS)}")
        for s in (node.left, node.right):
            if not 0 <= s < k + j:
                raise AutommError(f"node {j} reads slot {s}, which is not an earlier view or node")
            used[s] += 1
        if node.left == node.right:
            raise AutommError(f"node {j} fuses slot {node.left} with itself")
    if any(u != 1 for u in used[:-1]) or used[-1] != 0:
        raise AutommError("every view and every node but the last must feed exactly one later node")


def _expr(views: tuple[str, ...], nodes: tuple[FusionNode, ...], slot: int) -> str:
    k = len(views)
    if slot < k:
        return views[slot]
    node = nodes[slot - k]
    a, b = _expr(views, nodes, node.left), _expr(views, nodes, node.right)
    return f"{node.op}({a},{b})"


def _canonicalise(
    views: tuple[str, ...], nodes: tuple[FusionNode, ...]
) -> tuple[tuple[str, ...], tuple[FusionNode, ...]]:
    k = len(views)
    if not nodes:
        return views, nodes
    new_views: list[str] = []
    new_nodes: list[tuple[int, int, str]] = []  # node slots are offset by k at the end
    canon: dict[int, str] = {}

    def canonical_expr(slot: int) -> str:
        if slot not in canon:
            if slot < k:
                canon[slot] = views[slot]
            else:
                node = nodes[slot - k]
                a, b = sorted((canonical_expr(node.left), canonical_expr(node.right)))
                canon[slot] = f"{node.op}({a},{b})"
        return canon[slot]

    def visit(slot: int) -> int:
        """Emit ``slot``'s subtree in canonical post-order; return its new slot (nodes negative)."""
        if slot < k:
            new_views.append(views[slot])
            return len(new_views) - 1
        node = nodes[slot - k]
        first, second = sorted((node.left, node.right), key=canonical_expr)
        a, b = visit(first), visit(second)
        new_nodes.append((a, b, node.op))
        return -len(new_nodes)

    visit(k + len(nodes) - 1)

    def remap(s: int) -> int:
        return k + (-s - 1) if s < 0 else s

    return tuple(new_views), tuple(FusionNode(remap(a), remap(b), op) for a, b, op in new_nodes)


UNUSED = "-"  # a readable parameter's value for a slot the genotype does not use


@dataclass(frozen=True)
class SearchSpace:
    """All genotypes over ``view_names`` with 1..``max_views`` views and operators ``ops``; ``readable``:
    its Optuna parameters are the readable ones, else the genes (see module docstring)."""

    view_names: tuple[str, ...]
    max_views: int = 4
    ops: tuple[str, ...] = FUSION_OPS
    readable: bool = False

    kind = "ksnas"

    def __post_init__(self) -> None:
        object.__setattr__(self, "view_names", tuple(self.view_names))
        object.__setattr__(self, "ops", tuple(self.ops))
        if not self.view_names:
            raise AutommError("the search space needs at least one view")
        if self.max_views < 0:
            raise AutommError(f"max_views must be at least 1 (0: every view), got {self.max_views}")
        limit = self.max_views or len(self.view_names)
        object.__setattr__(self, "max_views", min(limit, len(self.view_names)))
        unknown = [op for op in self.ops if op not in OPS]
        if unknown or not self.ops:
            raise AutommError(f"unknown fusion operator(s) {unknown}; known: {', '.join(OPS)}")

    def distributions(self) -> dict[str, BaseDistribution]:
        """The Optuna parameters of a trial (readable or genes), in suggestion order."""
        return self.readable_distributions() if self.readable else self.gene_distributions()

    def encode(self, genotype: Genotype) -> dict[str, Any]:
        """Genotype -> its Optuna parameters (readable or genes)."""
        return self.encode_readable(genotype) if self.readable else self.encode_genes(genotype)

    def decode(self, params: dict[str, Any]) -> Genotype:
        """Optuna parameters (readable or genes) -> genotype."""
        return self.decode_readable(params) if self.readable else self.decode_genes(params)

    def readable_distributions(self) -> dict[str, BaseDistribution]:
        m = self.max_views
        nodes = tuple(f"node_{j}" for j in range(1, m - 1))
        out: dict[str, BaseDistribution] = {}
        for i in range(1, m + 1):
            out[f"view_{i}"] = CategoricalDistribution((*self.view_names, UNUSED))
        for j in range(1, m):
            out[f"node_{j}"] = CategoricalDistribution((*self.ops, UNUSED))
            out[f"node_{j}_left"] = CategoricalDistribution((*self.view_names, *nodes, UNUSED))
            out[f"node_{j}_right"] = CategoricalDistribution((*self.view_names, *nodes, UNUSED))
        return out

    def encode_readable(self, genotype: Genotype) -> dict[str, Any]:
        if not self.contains(genotype):
            raise AutommError(f"genotype {genotype} is not in this search space")
        k = genotype.k

        def name(slot: int) -> str:
            return genotype.views[slot] if slot < k else f"node_{slot - k + 1}"

        params: dict[str, Any] = {}
        for i in range(self.max_views):
            params[f"view_{i + 1}"] = genotype.views[i] if i < k else UNUSED
        for j in range(self.max_views - 1):
            node = genotype.nodes[j] if j < k - 1 else None
            params[f"node_{j + 1}"] = node.op if node else UNUSED
            params[f"node_{j + 1}_left"] = name(node.left) if node else UNUSED
            params[f"node_{j + 1}_right"] = name(node.right) if node else UNUSED
        return params

    def decode_readable(self, params: dict[str, Any]) -> Genotype:
        """Readable parameters -> genotype; a view not in the space is refused, a repeated one skipped (no
        view at all: the first), an input not available at its node is repaired to the first one that is."""
        views: list[str] = []
        for i in range(1, self.max_views + 1):
            view = params[f"view_{i}"]
            if view != UNUSED and view not in self.view_names:
                raise AutommError(f"view {view!r} is not in this search space ({', '.join(self.view_names)})")
            if view != UNUSED and view not in views:
                views.append(view)
        views = views or [self.view_names[0]]
        k = len(views)
        slots = {v: i for i, v in enumerate(views)} | {f"node_{j}": k + j - 1 for j in range(1, k)}
        pool = list(range(k))
        nodes = []
        for j in range(1, k):
            op = params[f"node_{j}"]
            op = op if op in self.ops else self.ops[0]
            picked = []
            for side in ("left", "right"):
                slot = slots.get(params[f"node_{j}_{side}"], -1)
                picked.append(pool.pop(pool.index(slot)) if slot in pool else pool.pop(0))
            nodes.append(FusionNode(picked[0], picked[1], op))
            pool.append(k + j - 1)
        return Genotype(tuple(views), tuple(nodes))

    def gene_distributions(self) -> dict[str, BaseDistribution]:
        """The genes, in suggestion order."""
        m = self.max_views
        out: dict[str, BaseDistribution] = {"n_views": IntDistribution(1, m)}
        for i in range(m):
            out[f"view_{i}"] = CategoricalDistribution(self.view_names)
        for j in range(m - 1):
            out[f"node_{j}_left"] = IntDistribution(0, m - 1 - j)
            out[f"node_{j}_right"] = IntDistribution(0, max(m - 2 - j, 0))
            out[f"node_{j}_op"] = CategoricalDistribution(self.ops)
        return out

    def suggest(self, trial: Any) -> Genotype:
        """Suggest every parameter on an Optuna trial and decode the genotype."""
        return self.decode(suggest_all(trial, self.distributions()))

    def decode_genes(self, params: dict[str, Any]) -> Genotype:
        """Genes -> genotype; duplicates and out-of-range picks are repaired deterministically."""
        k = int(np.clip(int(params["n_views"]), 1, self.max_views))
        chosen: list[str] = []
        for i in range(k):
            view = params[f"view_{i}"]
            if view not in self.view_names:
                raise AutommError(f"view {view!r} is not in this search space ({', '.join(self.view_names)})")
            start = self.view_names.index(view)
            for step in range(len(self.view_names)):  # next unused view in cyclic order
                candidate = self.view_names[(start + step) % len(self.view_names)]
                if candidate not in chosen:
                    chosen.append(candidate)
                    break
        pool = list(range(k))
        nodes = []
        for j in range(k - 1):
            a = pool.pop(int(params[f"node_{j}_left"]) % len(pool))
            b = pool.pop(int(params[f"node_{j}_right"]) % len(pool))
            nodes.append(FusionNode(a, b, str(params[f"node_{j}_op"])))
            pool.append(k + j)
        return Genotype(tuple(chosen), tuple(nodes))

    def encode_genes(self, genotype: Genotype) -> dict[str, Any]:
        """Genotype -> a full gene dict that decodes back to it."""
        if not self.contains(genotype):
            raise AutommError(f"genotype {genotype} is not in this search space")
        k = genotype.k
        unused = [v for v in self.view_names if v not in genotype.views]
        params: dict[str, Any] = {"n_views": k}
        for i in range(self.max_views):
            params[f"view_{i}"] = genotype.views[i] if i < k else unused[i - k]
        pool = list(range(k))
        for j in range(self.max_views - 1):
            if j < k - 1:
                node = genotype.nodes[j]
                left = pool.index(node.left)
                pool.pop(left)
                right = pool.index(node.right)
                pool.pop(right)
                pool.append(k + j)
                params.update({f"node_{j}_left": left, f"node_{j}_right": right, f"node_{j}_op": node.op})
            else:
                params.update({f"node_{j}_left": 0, f"node_{j}_right": 0, f"node_{j}_op": self.ops[0]})
        return params

    def size(self) -> int:
        """How many genotypes the space holds: for k views, C(n, k) view sets, (2k - 3)!! full binary trees
        over them (operands unordered: genotypes are canonical) and |ops|^(k-1) operator choices."""
        n, total = len(self.view_names), 0
        for k in range(1, self.max_views + 1):
            trees = math.prod(range(1, 2 * k - 2, 2))  # (2k - 3)!!, 1 for k <= 2
            total += math.comb(n, k) * trees * len(self.ops) ** (k - 1)
        return total

    def contains(self, genotype: Genotype) -> bool:
        return (
            genotype.k <= self.max_views
            and all(v in self.view_names for v in genotype.views)
            and all(n.op in self.ops for n in genotype.nodes)
        )

    def random_genotype(self, rng: np.random.Generator) -> Genotype:
        """A uniformly drawn gene assignment, decoded."""
        params: dict[str, Any] = {}
        for name, dist in self.gene_distributions().items():
            if isinstance(dist, IntDistribution):
                params[name] = int(rng.integers(dist.low, dist.high + 1))
            else:
                choices = dist.choices  # type: ignore[attr-defined]
                params[name] = choices[int(rng.integers(len(choices)))]
        return self.decode_genes(params)

    @staticmethod
    def parse(text: str) -> Genotype:
        return Genotype.from_string(text)

    def tokens(self, genotype: Genotype) -> np.ndarray:
        """One row per slot (views, then nodes in post-order): one-hot view | one-hot operator | inputs.

        The surrogate's input; node rows one-hot their two input slots.
        """
        n_views, n_ops, n_slots = len(self.view_names), len(self.ops), 2 * self.max_views - 1
        out = np.zeros((genotype.k + len(genotype.nodes), n_views + n_ops + 2 * n_slots), dtype=np.float32)
        for i, v in enumerate(genotype.views):
            out[i, self.view_names.index(v)] = 1.0
        for j, node in enumerate(genotype.nodes):
            row = out[genotype.k + j]
            row[n_views + self.ops.index(node.op)] = 1.0
            row[n_views + n_ops + node.left] = 1.0
            row[n_views + n_ops + n_slots + node.right] = 1.0
        return out
