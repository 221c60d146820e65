"""model.onnx: the same probabilities as the loaded export, in ONNX Runtime alone, for every method and
delivered kind; refused when it disagrees; absent only when asked or when the extra is missing."""

import json

import numpy as np
import pytest

import automm
from automm.core.errors import AutommError
from automm.delivery import export as export_module
from automm.delivery import onnx_export
from automm.delivery.export import MANIFEST
from tests.conftest import make_token_toy, make_toy
from tests.onnx_serving import served

pytest.importorskip("onnxruntime", reason="model.onnx needs the onnx extra")

FAST = {"fusion_dim": 16, "dropout": 0.0, "lr": 5e-3, "batch_size": 64, "max_epochs": 6, "patience": 2}
SMALL = {
    "ksnas": {"ksnas": {"population_size": 4, "generations": 2}, "knowledge": {"kb_epochs": 2}},
    "mfas": {"mfas": {"iterations": 1}},
    "bmnas": {"bmnas": {"channels": 8, "length": 2, "cells": 1, "steps": 1, "epochs": 3, "warmup": 1}},
    "mmnas": {"mmnas": {"hidden": 8, "heads": 2, "encoder_blocks": 1, "decoder_blocks": 1, "epochs": 2}},
    "random": {},
}
TRIALS = {"ksnas": None, "mfas": 4, "bmnas": 1, "mmnas": 2, "random": 4}


def _views(study: automm.Study) -> dict[str, np.ndarray]:
    ds = study.dataset
    rows = ds.splits.test
    views = {v: ds.views[v][rows] for v in ds.view_names}
    masks = {f"{v}_mask": np.ones(ds.views[v].shape[:2], bool)[rows] for v in ds.token_lengths}  # unpadded views
    return views | masks | {f"{v}_mask": m[rows] for v, m in ds.masks.items()}


def _assert_served_like_loaded(path, views):
    model = automm.load_model(path)
    logits, probabilities = served(path, views)
    np.testing.assert_allclose(probabilities, model.predict_proba(views), atol=1e-5)
    np.testing.assert_allclose(logits, model.predict_logits(views), atol=1e-4)
    return model


@pytest.mark.parametrize("method", list(SMALL))
def test_every_method_serves_the_same_probabilities_in_onnx_runtime(method, tmp_path):
    data = make_token_toy() if method in ("mmnas", "bmnas") else make_toy(n=240)
    folds = 1 if method == "bmnas" else 3  # BM-NAS searches on one split
    config = automm.SearchConfig(folds=folds, **FAST)
    study = automm.Study(data, method=method, runs_dir=tmp_path, config=config, **SMALL[method])
    study.optimize(TRIALS[method])
    path = study.export(tmp_path / "model")  # the default delivery: the greedy ensemble of fold bags
    meta = json.loads((path / "genotype.json").read_text())
    assert meta["serving"] == ["model.onnx"] and "model.onnx" in json.loads((path / MANIFEST).read_text())["sha256"]
    model = _assert_served_like_loaded(path, _views(study))
    if method in ("mmnas", "bmnas"):
        assert model.token_views  # its ONNX inputs are tokens with their masks


def test_a_multilabel_ensemble_serves_per_label_probabilities(tmp_path):
    config = automm.SearchConfig(folds=3, **FAST)
    study = automm.Study(make_toy(n=240, task="multilabel"), runs_dir=tmp_path, config=config, **SMALL["ksnas"])
    study.optimize()
    path = study.export(tmp_path / "model")
    model = _assert_served_like_loaded(path, _views(study))
    assert model.task == "multilabel" and served(path, _views(study))[1].shape[1] == 3


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    config = automm.SearchConfig(folds=1, ensemble_size=1, **FAST)
    study = automm.Study(make_toy(n=160), method="random", runs_dir=tmp_path_factory.mktemp("runs"), config=config)
    study.optimize(2)
    return study


def test_an_onnx_file_that_disagrees_is_refused_and_nothing_is_exported(small_study, tmp_path, monkeypatch):
    real_forward = export_module._ServingModule.forward
    monkeypatch.setattr(export_module._ServingModule, "forward", lambda self, views: real_forward(self, views) * 1.5)
    with pytest.raises(AutommError, match=r"model\.onnx disagrees with the exported model"):
        small_study.export(tmp_path / "model")
    assert not (tmp_path / "model").exists() and list(tmp_path.iterdir()) == []  # no folder, no staging left


def test_a_tolerance_below_the_real_gap_refuses_it(small_study, tmp_path, monkeypatch):
    path = small_study.export(tmp_path / "model")
    gap = onnx_export.verify_onnx(path / "model.onnx", automm.load_model(path))
    assert 0 <= gap <= onnx_export.TOLERANCE
    monkeypatch.setattr(onnx_export, "TOLERANCE", -1.0)  # the check compares, it does not just run
    with pytest.raises(AutommError, match="disagrees"):
        onnx_export.verify_onnx(path / "model.onnx", automm.load_model(path))


def test_without_onnx_the_export_still_loads_and_says_why(small_study, tmp_path, monkeypatch, caplog):
    path = small_study.export(tmp_path / "no", onnx=False)
    assert not (path / "model.onnx").exists() and json.loads((path / "genotype.json").read_text())["serving"] == []
    automm.load_model(path)
    monkeypatch.setattr(export_module, "onnx_available", lambda: False)
    with pytest.raises(AutommError, match=r"needs ONNX: pip install 'automm\[onnx\]'"):
        small_study.export(tmp_path / "asked", onnx=True)
    assert not (tmp_path / "asked").exists()
    with caplog.at_level("WARNING", logger="automm"):
        path = small_study.export(tmp_path / "auto")
    assert not (path / "model.onnx").exists() and "pip install 'automm[onnx]'" in caplog.text


def test_a_removed_onnx_file_named_in_genotype_json_is_refused(small_study, tmp_path):
    path = small_study.export(tmp_path / "model")
    (path / "model.onnx").unlink()
    manifest = json.loads((path / MANIFEST).read_text())
    del manifest["sha256"]["model.onnx"]
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(AutommError, match=r"names serving files manifest\.json does not record"):
        automm.load_model(path)


def test_the_serving_example_runs_on_onnx_runtime_alone(small_study, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    path = small_study.export(tmp_path / "model")
    ds = small_study.dataset
    rows = ds.splits.test
    np.savez(tmp_path / "new.npz", **{f"views/{v}": ds.views[v][rows] for v in ds.view_names})
    example = Path(__file__).resolve().parents[2] / "examples" / "serve_onnx.py"
    code = (  # automm and torch made unimportable: the example must not need them
        "import sys; sys.modules['torch'] = None; sys.modules['automm'] = None; "
        f"sys.argv = ['serve_onnx.py', '--model', {str(path)!r}, '--data', {str(tmp_path / 'new.npz')!r}]; "
        f"import runpy; runpy.run_path({str(example)!r}, run_name='__main__')"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = [line.split("\t") for line in printed.splitlines()]
    model = automm.load_model(path)
    views = {v: ds.views[v][rows] for v in ds.view_names}
    expected = [model.class_names[i] for i in model.predict(views)]
    assert [name for _, name, _ in lines] == expected and len(lines) == len(rows)
    best = model.predict_proba(views).max(axis=1)
    np.testing.assert_allclose([float(p) for _, _, p in lines], best, atol=1e-4)


def test_the_export_time_held_back_grows_with_the_networks_it_traces():
    from automm.delivery.onnx_export import export_seconds

    assert export_seconds(15) == pytest.approx(export_seconds(1) + 14 * 0.8)  # three 5-fold bags: each traced
    assert export_seconds(0) == export_seconds(1)
