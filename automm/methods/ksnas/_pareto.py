"""Non-dominated sorting and crowding distance (NSGA-II style) for minimised objective vectors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pareto_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Front index of each point (0: non-dominated); every objective is minimised."""
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    ranks = [-1] * n
    remaining = set(range(n))
    front = 0
    while remaining:
        current = [
            i for i in remaining if not any(np.all(p[j] <= p[i]) and np.any(p[j] < p[i]) for j in remaining if j != i)
        ]
        for i in current:
            ranks[i] = front
        remaining -= set(current)
        front += 1
    return ranks


def crowding_distance(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II crowding distance within one front (boundary points get infinity)."""
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    if n <= 2:
        return [float("inf")] * n
    dist = np.zeros(n)
    for m in range(p.shape[1]):
        order = np.argsort(p[:, m], kind="stable")
        span = p[order[-1], m] - p[order[0], m]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (p[order[2:], m] - p[order[:-2], m]) / span
    return dist.tolist()


def elitist_order(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices best first: by front, then by crowding distance (larger first), then index."""
    ranks = pareto_ranks(points)
    crowd = [0.0] * len(points)
    for front in set(ranks):
        members = [i for i, r in enumerate(ranks) if r == front]
        for i, d in zip(members, crowding_distance([points[i] for i in members]), strict=True):
            crowd[i] = d
    return sorted(range(len(points)), key=lambda i: (ranks[i], -crowd[i], i))
