"""Plotly figures of a study: best score over trials, epochs per generation, score against size."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go


def best_score_figure(rows: list[dict[str, Any]], metric: str) -> go.Figure:
    """Each trial's validation score and the best so far, by trial number."""
    rows = sorted((r for r in rows if r["value"] is not None), key=lambda r: r["number"])
    best, running = [], float("-inf")
    for r in rows:
        running = max(running, r["value"])
        best.append(running)
    fig = go.Figure()
    fig.add_scatter(
        x=[r["number"] for r in rows],
        y=[r["value"] for r in rows],
        mode="markers",
        name="trial",
        text=[r["genotype"] for r in rows],
        marker={"size": 6, "opacity": 0.6},
    )
    fig.add_scatter(x=[r["number"] for r in rows], y=best, mode="lines", name="best so far")
    fig.update_layout(title=f"Best validation {metric} over trials", xaxis_title="trial", yaxis_title=metric)
    return fig


def epochs_per_generation_figure(report: list[dict[str, Any]]) -> go.Figure:
    """Mean training epochs per individual in each generation (the KS-NAS paper's Figure 3)."""
    fig = go.Figure()
    fig.add_bar(x=[r["generation"] for r in report], y=[r["epochs_mean"] for r in report], name="epochs")
    fig.update_layout(
        title="Epochs per individual by generation", xaxis_title="generation", yaxis_title="mean epochs to convergence"
    )
    return fig


def score_vs_params_figure(rows: list[dict[str, Any]], metric: str, front: set[int] | None = None) -> go.Figure:
    """Validation score against parameter count; ``front`` trial numbers are highlighted."""
    rows = [r for r in rows if r["value"] is not None and r["n_params"]]
    front = front or set()
    fig = go.Figure()
    for on_front in (False, True):
        part = [r for r in rows if (r["number"] in front) == on_front]
        if part:
            fig.add_scatter(
                x=[r["n_params"] for r in part],
                y=[r["value"] for r in part],
                mode="markers",
                name="Pareto front" if on_front else "trial",
                text=[r["genotype"] for r in part],
                marker={"size": 9 if on_front else 6, "symbol": "diamond" if on_front else "circle"},
            )
    fig.update_layout(
        title=f"Validation {metric} against parameter count",
        xaxis_title="parameters",
        yaxis_title=metric,
        xaxis_type="log",
    )
    return fig
