"""Plotly figures of a study: best score over trials, epochs per generation, score against size.

A figure is plotly's JSON form, a dict ``{"data": [trace, ...], "layout": {...}}``, built directly:
optuna-dashboard and plotly.js read it as it is, and a search pays neither plotly's property
validation nor its lazy imports (about 35 ms on the first figure of a process). No template is
embedded: the dashboard draws it in plotly.js's own style, as its built-in plots; ``plotly.io``
(the HTML report) applies plotly's default template. Values are plain Python numbers and strings.
"""

from __future__ import annotations

from typing import Any

Figure = dict[str, Any]  # plotly's JSON form of a figure


def layout(title: str, x_title: str, y_title: str | None = None, **axes: Any) -> dict[str, Any]:
    """A layout with a title and axis titles; ``axes``: more ``xaxis`` settings (e.g. ``type="log"``)."""
    out: dict[str, Any] = {"title": {"text": title}, "xaxis": {"title": {"text": x_title}, **axes}}
    if y_title is not None:
        out["yaxis"] = {"title": {"text": y_title}}
    return out


def best_score_figure(rows: list[dict[str, Any]], metric: str) -> Figure:
    """Each trial's validation score and the best so far, by trial number."""
    rows = sorted((r for r in rows if r["value"] is not None), key=lambda r: r["number"])
    numbers = [int(r["number"]) for r in rows]
    values = [float(r["value"]) for r in rows]
    best, running = [], float("-inf")
    for value in values:
        running = max(running, value)
        best.append(running)
    trials = {
        "type": "scatter",
        "x": numbers,
        "y": values,
        "mode": "markers",
        "name": "trial",
        "text": [str(r["genotype"]) for r in rows],
        "marker": {"size": 6, "opacity": 0.6},
    }
    best_line = {"type": "scatter", "x": numbers, "y": best, "mode": "lines", "name": "best so far"}
    return {"data": [trials, best_line], "layout": layout(f"Best validation {metric} over trials", "trial", metric)}


def epochs_per_generation_figure(report: list[dict[str, Any]]) -> Figure:
    """Mean training epochs per individual in each generation (the KS-NAS paper's Figure 3)."""
    bars = {
        "type": "bar",
        "x": [int(r["generation"]) for r in report],
        "y": [float(r["epochs_mean"]) for r in report],
        "name": "epochs",
    }
    return {
        "data": [bars],
        "layout": layout("Epochs per individual by generation", "generation", "mean epochs to convergence"),
    }


def score_vs_params_figure(rows: list[dict[str, Any]], metric: str, front: set[int] | None = None) -> Figure:
    """Validation score against parameter count; ``front`` trial numbers are highlighted."""
    rows = [r for r in rows if r["value"] is not None and r["n_params"]]
    front = front or set()
    data = []
    for on_front in (False, True):
        part = [r for r in rows if (r["number"] in front) == on_front]
        if part:
            data.append(
                {
                    "type": "scatter",
                    "x": [int(r["n_params"]) for r in part],
                    "y": [float(r["value"]) for r in part],
                    "mode": "markers",
                    "name": "Pareto front" if on_front else "trial",
                    "text": [str(r["genotype"]) for r in part],
                    "marker": {"size": 9 if on_front else 6, "symbol": "diamond" if on_front else "circle"},
                }
            )
    title = f"Validation {metric} against parameter count"
    return {"data": data, "layout": layout(title, "parameters", metric, type="log")}
