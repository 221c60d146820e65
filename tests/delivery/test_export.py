import json

import numpy as np
import pytest
import torch

import automm
from automm.core.errors import AutommError
from automm.core.progress import listening
from automm.delivery.export import FILES, MANIFEST
from automm.delivery.final_trainer import RETRAINING
from automm.report.html import write_report
from tests.conftest import make_toy
from tests.onnx_serving import served

CONFIG = automm.SearchConfig(
    folds=1, ensemble_size=1, fusion_dim=16, max_views=3, dropout=0.1, lr=5e-3, batch_size=64, max_epochs=25, patience=4
)


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
    path = finished.export(tmp_path / "model", start="kb")  # from the KB weights its trial used
    assert sorted(p.name for p in path.iterdir()) == sorted((*FILES, "model.safetensors", "model.onnx", MANIFEST))
    meta = json.loads((path / "genotype.json").read_text())
    assert meta["genotype"] == str(finished.best_genotype) and meta["started_from"] == "kb"
    model = automm.load_model(path)
    ds = finished.dataset
    rows = ds.splits.test
    views = {v: ds.views[v][rows] for v in ds.view_names}  # extra views are ignored
    # the same weights trained again give the same predictions as the export
    again = finished.export(tmp_path / "again", start="kb")
    assert np.array_equal(automm.load_model(again).predict_logits(views), model.predict_logits(views))
    assert meta["serving"] == ["model.onnx"]
    logits, probabilities = served(path, views)  # ONNX Runtime alone, raw views in
    np.testing.assert_allclose(logits, model.predict_logits(views), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probabilities, model.predict_proba(views), atol=1e-5)
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
    heard = []
    with listening(lambda what, done, total: heard.append((what, done, total))):
        rows = finished.retrain(top=2, seeds=2)
    assert [(d, t) for w, d, t in heard if w == RETRAINING] == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]  # a bar
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
    figures = html.split("<h2>Figures</h2>")[1]
    assert "Best validation accuracy over trials" in figures and "Epochs per individual by generation" in figures
    assert "<td>lr</td><td>0.005</td>" in html and "<td>max_epochs</td><td>25</td>" in html  # no 0.0050, 25.0000
    assert "multi-label threshold" not in html  # a multi-class study has none
    assert "<h3>Training and search (every method)</h3>" in html and "<h3>KS-NAS</h3>" in html  # every table titled


def test_study_load_reopens_by_name(finished):
    with pytest.raises(AutommError, match="in-memory data set"):
        automm.Study.load(finished.study_name, storage=finished.storage)


def _rewrite_manifest(path):
    """What an editing tool that keeps the manifest consistent would leave: the deeper checks must still catch it."""
    import hashlib

    manifest = json.loads((path / MANIFEST).read_text())
    manifest["sha256"] = {f: hashlib.sha256((path / f).read_bytes()).hexdigest() for f in manifest["sha256"]}
    (path / MANIFEST).write_text(json.dumps(manifest))


def _edit_json(**changes):
    def edit(path):
        meta = json.loads((path / "genotype.json").read_text())
        for key, value in changes.items():
            meta[key] = value(meta) if callable(value) else value
        (path / "genotype.json").write_text(json.dumps(meta))

    return edit


def _edit_weights(fn, name="model.safetensors"):
    def edit(path):
        from safetensors.torch import load_file, save_file

        state = load_file(str(path / name))
        save_file({k: fn(k, v) for k, v in state.items()}, str(path / name))

    return edit


def _swap_head_rows(k, v):
    return v.flip(0).contiguous() if k.startswith("head.") else v


TAMPERINGS = {
    "zeroed weights": _edit_weights(lambda k, v: torch.zeros_like(v)),
    "NaN weights": _edit_weights(lambda k, v: torch.full_like(v, float("nan"))),
    "swapped head rows": _edit_weights(_swap_head_rows),
    "changed scale": _edit_weights(lambda k, v: v * 2 if k.startswith("scale/") else v, "preprocessing.safetensors"),
    "renamed class": _edit_json(class_names=lambda m: ["renamed", *m["class_names"][1:]]),
    "operator swapped": _edit_json(genotype=lambda m: m["genotype"].replace("add", "max").replace("avg", "max")),
    "format 99": _edit_json(format_version=99),
    "other threshold": _edit_json(threshold=0.9),
    "truncated weights": lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:100]),
    "onnx edited": lambda p: (p / "model.onnx").write_bytes(b"x"),
    "onnx removed": lambda p: (p / "model.onnx").unlink(),
    "json garbage": lambda p: (p / "genotype.json").write_text("{not json"),
    "weights removed": lambda p: (p / "model.safetensors").unlink(),
    "manifest removed": lambda p: (p / MANIFEST).unlink(),
    "manifest garbage": lambda p: (p / MANIFEST).write_text("[]"),
}
CONSISTENT = {  # edited, then the manifest recomputed: caught by the format and content checks
    "format 99": (_edit_json(format_version=99), "export format 99"),
    "NaN weights": (TAMPERINGS["NaN weights"], "NaN or inf"),
    "json garbage": (TAMPERINGS["json garbage"], "corrupted automm export"),
    "unknown task": (_edit_json(task="regression"), "unknown task"),
    "wrong view width": (_edit_json(view_dims=lambda m: {v: d + 1 for v, d in m["view_dims"].items()}), "corrupted"),
    "duplicate class names": (_edit_json(class_names=lambda m: ["a"] * len(m["class_names"])), "distinct class"),
    "unknown family": (
        _edit_json(space="darts", members=lambda m: [{**x, "space": "darts"} for x in m["members"]]),
        "unknown network family",
    ),
    "malformed genotype": (
        _edit_json(genotype="add((", members=lambda m: [{**m["members"][0], "genotype": "add(("}]),
        "malformed genotype",
    ),
    "first member differs": (_edit_json(genotype=lambda m: m["genotype"] + "x"), "disagree"),
    "zero scale": (
        _edit_weights(lambda k, v: v * 0 if k.startswith("scale/") else v, "preprocessing.safetensors"),
        "preprocessing",
    ),
}


@pytest.fixture(scope="module")
def exported(finished, tmp_path_factory):
    return finished.export(tmp_path_factory.mktemp("exports") / "model")


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_every_tampered_export_is_refused_in_one_line(exported, tmp_path, name):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(exported, copy)
    TAMPERINGS[name](copy)
    with pytest.raises(AutommError) as info:
        automm.load_model(copy)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(CONSISTENT))
def test_malformed_exports_with_a_consistent_manifest_are_refused(exported, tmp_path, name):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(exported, copy)
    edit, message = CONSISTENT[name]
    edit(copy)
    _rewrite_manifest(copy)
    with pytest.raises(AutommError, match=message) as info:
        automm.load_model(copy)
    assert "\n" not in str(info.value)


def test_export_refuses_to_overwrite_and_replaces_whole(finished, exported, tmp_path, monkeypatch):
    import shutil

    target = tmp_path / "model"
    shutil.copytree(exported, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(AutommError, match="not empty; pass overwrite=True"):
        finished.export(target)

    def broken_export(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(AutommError, match=r"exporting model.onnx failed \(RuntimeError: disk full\)"):
        finished.export(target, start="scratch", overwrite=True)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before  # the old export, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left behind
    automm.load_model(target)
    monkeypatch.undo()
    finished.export(target, start="scratch", overwrite=True)
    assert automm.load_model(target).meta["started_from"] == "scratch"


def test_report_refuses_to_overwrite(finished, tmp_path):
    path = tmp_path / "r.html"
    path.write_text("mine")
    with pytest.raises(AutommError, match="exists; pass overwrite=True"):
        write_report(finished, path)
    assert path.read_text() == "mine"
    assert "<svg" in write_report(finished, path, overwrite=True).read_text()


def test_user_errors_are_value_errors():
    assert issubclass(AutommError, ValueError)


def test_format_2_exports_still_load(exported, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(exported, copy)
    meta = json.loads((copy / "genotype.json").read_text())
    meta["format_version"] = 2
    del meta["members"]
    (copy / "genotype.json").write_text(json.dumps(meta))
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["format_version"] = 2
    (copy / MANIFEST).write_text(json.dumps(manifest))
    _rewrite_manifest(copy)
    old, new = automm.load_model(copy), automm.load_model(exported)
    views = {v: np.ones((4, w), np.float32) for v, w in new.meta["view_dims"].items()}
    assert np.array_equal(old.predict_logits(views), new.predict_logits(views))


def test_loaded_model_prints_short_and_names_its_views(finished, exported):
    model = automm.load_model(exported)
    widths = {"left/feat": 4, "right/feat": 3, "noise/feat": 4}  # make_toy's views
    assert model.views and all(widths[v] == d for v, d in model.views.items())
    assert model.task == "multiclass" and len(model.class_names) == 4
    text = repr(model)
    assert text.startswith("FusionModel(multiclass, 4 classes, views ") and "test accuracy " in text
    assert "array" not in text and len(text) < 600  # no mean/scale arrays


def test_delivery_trains_with_automm_thread_rule(finished, tmp_path, monkeypatch):
    import torch

    import automm.delivery.trainer

    seen = []
    real_fit = automm.delivery.trainer.fit

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(automm.delivery.trainer, "fit", spy)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # those would override the rule
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # torch's default on a 2-core machine, oversubscribed beside another process
    try:
        finished.export(tmp_path / "m", start="scratch")
        assert seen and set(seen) == {1}  # a small network: one thread, as its trials had
        assert torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(before)
