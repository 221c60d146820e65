"""What matters in the architectures tried: importance of readable features, not of encoding slots.

A genotype string is read as features a user understands: whether each view is used, how often each
operator (or activation) occurs, how many views and fusion steps it has. A random forest fitted on
the finished trials' (features, score) pairs ranks them (impurity importance, summing to 1), and the
figure shows the ranking with the mean score with and without each feature. Optuna's own
parameter importance is over a trial's parameters, one slot at a time: a fusion-tree study's readable
slots (``view_2 = b/y``, ``node_1 = concat``), other methods' encoding slots (``node_2_left``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from automm.inspection.figures import Figure, layout

MIN_TRIALS = 5  # fewer scored trials than this rank nothing


def architecture_features(
    genotype: str, views: list[str], structure: Mapping[str, str | None] = MappingProxyType({})
) -> dict[str, float]:
    """Readable features of one genotype string (any method's: ``op(a,b)``, ``act(a+b)>act(c)``).
    ``structure``: the method's words that are structure, not fusion steps (`SearchMethod.structure_words`),
    each counted as the feature it names (None: not counted)."""
    tokens = re.findall(r"[^(),+>\s|]+(?=\()|[^(),+>\s|]+", genotype.split(" | ")[0])
    found = re.findall(r"([A-Za-z_][\w]*)\(", genotype.split(" | ")[0])
    ops = [op for op in found if op not in structure]
    used = [v for v in views if v in tokens]
    out: dict[str, float] = {f"uses {v}": float(v in used) for v in views}
    for word, feature in structure.items():
        if feature is not None and word in found:
            out[feature] = float(found.count(word))
    for op in sorted(set(ops)):
        out[f"{op} steps"] = float(ops.count(op))
    out["views used"] = float(len(used))
    out["fusion steps"] = float(len(ops))
    return out


def importance_rows(
    rows: list[dict[str, Any]],
    views: list[str],
    seed: int = 0,
    structure: Mapping[str, str | None] = MappingProxyType({}),
) -> list[dict[str, Any]]:
    """(feature, importance, mean score with, mean score without) over scored trials, most important first;
    empty with fewer than `MIN_TRIALS` scored trials or when every trial looks the same."""
    from sklearn.ensemble import RandomForestRegressor

    scored = [r for r in rows if r.get("value") is not None and r.get("genotype")]
    if len(scored) < MIN_TRIALS:
        return []
    table = [architecture_features(str(r["genotype"]), views, structure) for r in scored]
    names = sorted({k for t in table for k in t})
    x = np.array([[t.get(k, 0.0) for k in names] for t in table])
    y = np.array([float(r["value"]) for r in scored])
    varied = x.std(axis=0) > 0
    if not varied.any() or y.std() == 0:
        return []
    names = [n for n, v in zip(names, varied, strict=True) if v]
    x = x[:, varied]
    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=seed).fit(x, y)
    importances = forest.feature_importances_  # a property that averages every tree again on each read
    out = []
    for i, name in enumerate(names):
        present = x[:, i] > 0
        out.append(
            {
                "feature": name,
                "importance": float(importances[i]),
                "with": float(y[present].mean()) if present.any() else None,
                "without": float(y[~present].mean()) if (~present).any() else None,
            }
        )
    return sorted(out, key=lambda r: -r["importance"])


def importance_figure(rows: list[dict[str, Any]], metric: str) -> Figure:
    """Horizontal bars of `importance_rows`; hovering shows the mean score with and without each feature."""
    top = rows[:15][::-1]
    bars = {
        "type": "bar",
        "x": [float(r["importance"]) for r in top],
        "y": [str(r["feature"]) for r in top],
        "orientation": "h",
        "text": [_with_without(r, metric) for r in top],
        "hoverinfo": "text+y",
    }
    title = f"What matters for validation {metric} (architecture features, random-forest importance)"
    return {"data": [bars], "layout": layout(title, "importance (sums to 1)")}


def _with_without(row: dict[str, Any], metric: str) -> str:
    parts = []
    if row["with"] is not None:
        parts.append(f"mean {metric} with {row['with']:.4f}")
    if row["without"] is not None:
        parts.append(f"without {row['without']:.4f}")
    return ", ".join(parts)
