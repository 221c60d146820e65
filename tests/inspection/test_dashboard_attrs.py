"""The inspector writes optuna-dashboard's notes and figures itself, in one transaction: the dashboard's
own readers must read back exactly what was written, also after a longer note or figure is replaced."""

from __future__ import annotations

import json
from types import SimpleNamespace

import optuna
import pytest
from optuna_dashboard import get_note
from optuna_dashboard._custom_plot_data import get_plotly_graph_objects
from optuna_dashboard._note import note_ver_key

from automm.inspection import dashboard
from automm.store import optuna_internals


def _figure(points: int) -> dict:
    return {"data": [{"type": "scatter", "x": list(range(points)), "y": list(range(points))}], "layout": {}}


@pytest.mark.parametrize("storage", ["sqlite", "memory"])
def test_a_shorter_note_and_figure_replace_longer_ones(tmp_path, monkeypatch, storage):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db.sqlite'}" if storage == "sqlite" else None)
    written: dict = {}
    monkeypatch.setattr(dashboard, "study_note", lambda *args: written["note"])
    monkeypatch.setattr(dashboard, "study_figures", lambda *args: written["figures"])
    method = SimpleNamespace(structure_words={})
    data = SimpleNamespace(summary=lambda: "")
    inspector = dashboard.Inspector(study, method, data, "accuracy", artifact_store=None, draw=str)  # type: ignore[arg-type]
    for note, points in (("n" * 5000, 2000), ("short", 3)):  # a note of 3 chunks, then of 1; a figure alike
        written.update(note=note, figures={"automm-best-score": _figure(points)})
        inspector.refresh()
        attrs = optuna_internals.study_system_attrs(study)
        assert get_note(study) == note
        stored = get_plotly_graph_objects(attrs)["automm-best-score"]
        assert json.loads(stored) == _figure(points)
    assert attrs[note_ver_key(None)] == 2  # each refresh a new version of the study note
