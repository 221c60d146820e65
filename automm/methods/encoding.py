"""Helpers for fixed-length Optuna encodings of architectures (every method's space uses one)."""

from __future__ import annotations

from typing import Any

from optuna.distributions import BaseDistribution, IntDistribution


def suggest_all(trial: Any, distributions: dict[str, BaseDistribution]) -> dict[str, Any]:
    """Suggest every parameter of a fixed-length encoding on an Optuna trial, in order."""
    params = {}
    for name, dist in distributions.items():
        if isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(name, dist.low, dist.high)
        else:
            params[name] = trial.suggest_categorical(name, dist.choices)  # type: ignore[attr-defined]
    return params
