import json

import numpy as np
import pytest
import torch

import automm
from automm.errors import AutommError
from automm.export import FILES, MANIFEST
from automm.reporting.report import write_report
from tests.conftest import make_toy

CONFIG = automm.SearchConfig(fusion_dim=16, max_views=3, dropout=0.1, lr=5e-3, batch_size=64, max_epochs=25, patience=4)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    study = automm.Study(
        make_toy(n=240),
        runs_dir=runs,
        config=CONFIG,
        ksnas={"population_size": 4, "generations": 2},
        knowledge={"kb_epochs": 2},
    )
    study.optimize()
    return study


def test_export_round_trip_identical_predictions(finished, tmp_path):
    path = finished.export(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == sorted((*FILES, MANIFEST))
    meta = json.loads((path / "genotype.json").read_text())
    assert meta["genotype"] == str(finished.best_genotype) and meta["started_from"] == "kb"
    model = automm.load_model(path)
    ds = finished.dataset
    rows = ds.splits.test
    views = {v: ds.views[v][rows] for v in ds.view_names}  # extra views are ignored
    # the same weights trained again give the same predictions as the export
    again = finished.export(tmp_path / "again")
    assert np.array_equal(automm.load_model(again).predict_logits(views), model.predict_logits(views))
    scripted = torch.jit.load(str(path / "model.torchscript.pt"))
    ts_logits = scripted({v: torch.from_numpy(views[v]) for v in model.genotype.views}).detach().numpy()
    np.testing.assert_allclose(ts_logits, model.predict_logits(views), rtol=1e-5, atol=1e-5)
    accuracy = (model.predict(views) == ds.labels[rows]).mean()
    assert accuracy == pytest.approx(meta["test_metrics"]["accuracy"])
    probs = model.predict_proba(views)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_load_model_checks_inputs(finished, tmp_path):
    path = finished.export(tmp_path / "model", start="scratch")
    model = automm.load_model(path)
    view = model.genotype.views[0]
    width = model.meta["view_dims"][view]
    with pytest.raises(AutommError, match="needs view"):
        model.predict({})
    good = {v: np.zeros((3, w), np.float32) for v, w in model.meta["view_dims"].items()}
    with pytest.raises(AutommError, match=rf"must be \(N, {width}\)"):
        model.predict({**good, view: np.zeros((3, width + 1))})
    with pytest.raises(AutommError, match="NaN or inf"):
        model.predict({**good, view: np.full((3, width), np.nan)})
    (path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(AutommError, match=r"model\.safetensors is corrupted or was modified"):
        automm.load_model(path)
    with pytest.raises(AutommError, match="not an automm export"):
        automm.load_model(tmp_path)


def test_retrain_from_kb_and_scratch_is_stored(finished):
    rows = finished.retrain(top=2, seeds=2)
    assert [(r["rank"], r["start"]) for r in rows] == [(1, "kb"), (1, "scratch"), (2, "kb"), (2, "scratch")]
    assert all(len(r["scores"]) == 2 and 0 <= r["mean"] <= 1 for r in rows)
    assert finished.optuna_study.user_attrs["retrain"] == rows
    with pytest.raises(AutommError, match="top must be"):
        finished.retrain(top=0)


def test_report_is_self_contained(finished, tmp_path):
    path = write_report(finished, tmp_path / "r.html", top=2)
    html = path.read_text()
    assert html.count("<svg") >= 2 and "Generations" in html and str(finished.best_genotype) in html
    assert "plotly" in html and "https://cdn" not in html.split("<h2>Figures</h2>")[1][:2000]


def test_study_load_reopens_by_name(finished):
    with pytest.raises(AutommError, match="in-memory data set"):
        automm.Study.load(finished.study_name, storage=finished.storage)
