"""Figures are plotly's JSON form, built without plotly: plotly must accept each as it is (every
property valid, none coerced), and plain JSON must serialise it (also from numpy-typed rows)."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from automm.inspection.figures import best_score_figure, epochs_per_generation_figure, score_vs_params_figure
from automm.inspection.importance import importance_figure

ROWS = [
    {"number": np.int64(n), "value": v, "genotype": f"g{n}", "n_params": np.int64(100 * (n + 1))}
    for n, v in enumerate([np.float64(0.5), 0.7, None, 0.6, np.float32(0.9)])
]


def _as_plotly_reads_it(figure: dict) -> dict:
    """``figure`` after plotly validated it and wrote it back, without the template it adds."""
    read = json.loads(go.Figure(figure).to_json())  # raises on a property plotly does not know
    read["layout"].pop("template", None)
    return read


FIGURES = {
    "best score": lambda: best_score_figure(ROWS, "accuracy"),
    "score vs params": lambda: score_vs_params_figure(ROWS, "accuracy", front={3}),
    "epochs": lambda: epochs_per_generation_figure([{"generation": np.int64(0), "epochs_mean": np.float64(4.5)}]),
    "importance": lambda: importance_figure(
        [{"feature": "uses a", "importance": np.float64(0.75), "with": 0.8, "without": None}], "accuracy"
    ),
}


@pytest.mark.parametrize("name", FIGURES)
def test_plotly_reads_each_figure_as_it_is_and_json_writes_it(name):
    figure = FIGURES[name]()
    plain = json.loads(json.dumps(figure))  # no numpy scalar left: plain JSON writes it
    assert plain == figure
    assert _as_plotly_reads_it(figure) == plain


def test_best_score_figure_shows_each_score_and_the_best_so_far_by_trial():
    trials, best = best_score_figure(ROWS, "accuracy")["data"]
    assert trials["x"] == [0, 1, 3, 4] and trials["y"] == pytest.approx([0.5, 0.7, 0.6, 0.9])
    assert best["y"] == pytest.approx([0.5, 0.7, 0.7, 0.9])
    assert trials["text"] == ["g0", "g1", "g3", "g4"]


def test_score_vs_params_figure_highlights_the_front_on_a_log_axis():
    figure = score_vs_params_figure(ROWS, "accuracy", front={3})
    rest, front = figure["data"]
    assert rest["x"] == [100, 200, 500] and front["x"] == [400] and front["name"] == "Pareto front"
    assert figure["layout"]["xaxis"]["type"] == "log"
