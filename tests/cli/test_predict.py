"""``automm predict``: the CSV (rows in input order, ids, class names or label sets, probabilities) from every
input layout, batches that change nothing, and one-line errors with exit code 2."""

import csv

import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

import automm
from automm.cli import app
from tests.conftest import make_token_toy, make_toy

runner = CliRunner()
FAST = {"fusion_dim": 16, "dropout": 0.0, "lr": 5e-3, "batch_size": 64, "max_epochs": 8, "patience": 2}


def _export(tmp_path_factory, data, method="random", trials=2, **settings):
    runs = tmp_path_factory.mktemp("runs")
    config = automm.SearchConfig(folds=1, ensemble_size=1, **FAST)
    study = automm.Study(data, method=method, runs_dir=runs, config=config, **settings)
    study.optimize(trials)
    return study.export(runs / "model", onnx=False), study.dataset


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory):
    return _export(tmp_path_factory, make_toy(n=200))


@pytest.fixture(scope="module")
def multilabel(tmp_path_factory):
    return _export(tmp_path_factory, make_toy(n=200, task="multilabel"))


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    small = {"hidden": 8, "heads": 2, "encoder_blocks": 1, "decoder_blocks": 1, "epochs": 2}
    return _export(tmp_path_factory, make_token_toy(), method="mmnas", trials=1, mmnas=small)


def _predict(model, data, out, *extra):
    return runner.invoke(app, ["predict", "--model", str(model), "--data", str(data), "--out", str(out), *extra])


def _read(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def _one_line_error(result, text):
    assert result.exit_code == 2, result.output
    said = [line for line in result.output.splitlines() if line != "predicting ..."]  # the step, when piped
    assert len(said) == 1 and said[0].startswith("error: ") and text in said[0], result.output


def test_predict_writes_ids_classes_and_probabilities_in_input_order(multiclass, tmp_path):
    path, ds = multiclass
    rows = ds.splits.test[::-1]  # an order of its own: the CSV keeps it
    ids = np.array([f"sample-{i}" for i in rows])
    np.savez(tmp_path / "new.npz", **{f"views/{v}": ds.views[v][rows] for v in ds.view_names}, id=ids)
    result = _predict(path, tmp_path / "new.npz", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    assert f"wrote {len(rows)} predictions (4 classes)" in result.output
    header, *lines = _read(tmp_path / "p.csv")
    model = automm.load_model(path)
    assert header == ["id", "prediction", *(f"p_{c}" for c in model.class_names)]
    views = {v: ds.views[v][rows] for v in ds.view_names}
    assert [line[0] for line in lines] == list(ids)
    assert [line[1] for line in lines] == [model.class_names[k] for k in model.predict(views)]
    np.testing.assert_allclose(np.array([line[2:] for line in lines], float), model.predict_proba(views), atol=1e-5)


def test_batches_change_nothing_and_a_folder_of_npy_reads_like_an_npz(multiclass, tmp_path):
    path, ds = multiclass
    rows = ds.splits.test
    np.savez(tmp_path / "new.npz", **{f"views/{v}": ds.views[v][rows] for v in ds.view_names})
    folder = tmp_path / "new"
    for v in ds.view_names:
        (folder / "views" / v).parent.mkdir(parents=True, exist_ok=True)
        np.save(folder / "views" / f"{v}.npy", ds.views[v][rows])
    assert _predict(path, tmp_path / "new.npz", tmp_path / "whole.csv").exit_code == 0
    assert _predict(path, tmp_path / "new.npz", tmp_path / "batched.csv", "--batch-size", 7).exit_code == 0
    assert _predict(path, folder, tmp_path / "folder.csv").exit_code == 0
    whole = _read(tmp_path / "whole.csv")
    assert whole[0][0] == "prediction" and len(whole) == len(rows) + 1  # no id column without ids
    assert _read(tmp_path / "batched.csv") == whole == _read(tmp_path / "folder.csv")


def test_a_mat_file_with_view_names_and_a_turned_view(multiclass, tmp_path):
    path, ds = multiclass
    rows = ds.splits.test
    cell = np.empty((1, len(ds.view_names)), dtype=object)
    for i, v in enumerate(ds.view_names):
        cell[0, i] = ds.views[v][rows].T if i == 0 else ds.views[v][rows]  # the first stored d x N
    scipy.io.savemat(tmp_path / "new.mat", {"X": cell, "view_names": np.array(ds.view_names, dtype=object)})
    np.savez(tmp_path / "new.npz", **{f"views/{v}": ds.views[v][rows] for v in ds.view_names})
    assert _predict(path, tmp_path / "new.mat", tmp_path / "mat.csv").exit_code == 0
    assert _predict(path, tmp_path / "new.npz", tmp_path / "npz.csv").exit_code == 0
    assert _read(tmp_path / "mat.csv") == _read(tmp_path / "npz.csv")


def test_multilabel_predictions_are_label_sets(multilabel, tmp_path):
    path, ds = multilabel
    rows = ds.splits.test
    np.savez(tmp_path / "new.npz", **{f"views/{v}": ds.views[v][rows] for v in ds.view_names})
    assert _predict(path, tmp_path / "new.npz", tmp_path / "p.csv").exit_code == 0
    header, *lines = _read(tmp_path / "p.csv")
    model = automm.load_model(path)
    chosen = model.predict({v: ds.views[v][rows] for v in ds.view_names})
    expected = [";".join(model.class_names[j] for j in np.flatnonzero(r)) for r in chosen]
    assert [line[0] for line in lines] == expected and len(header) == 1 + len(model.class_names)
    assert any(";" in e for e in expected)  # label sets of two or more (the toy's rows have up to 3 labels)


def test_token_views_take_their_masks(tokens, tmp_path):
    path, ds = tokens
    rows = ds.splits.test
    arrays = {f"views/{v}": ds.views[v][rows] for v in ds.view_names}
    masks = {f"views/{v}_mask": m[rows] for v, m in ds.masks.items()}
    np.savez(tmp_path / "new.npz", **arrays, **masks)
    assert _predict(path, tmp_path / "new.npz", tmp_path / "p.csv").exit_code == 0
    model = automm.load_model(path)
    views = {v: ds.views[v][rows] for v in ds.view_names} | {f"{v}_mask": m[rows] for v, m in ds.masks.items()}
    lines = _read(tmp_path / "p.csv")[1:]
    assert [line[0] for line in lines] == [model.class_names[k] for k in model.predict(views)]
    view, mask = next(iter(ds.masks.items()))
    bad = {**arrays, **masks, f"views/{view}_mask": mask[rows][:, :-1]}
    np.savez(tmp_path / "bad.npz", **bad)
    _one_line_error(_predict(path, tmp_path / "bad.npz", tmp_path / "bad.csv"), f"the mask of view {view!r} must be")


ERRORS = {  # (how the input is spoiled, the message)
    "a view missing": (lambda views: {k: v for k, v in list(views.items())[1:]}, "the model needs view"),
    "a narrower view": (lambda views: {k: v[:, :-1] for k, v in views.items()}, "must be (N, "),
    "NaN": (
        lambda views: {k: np.where(np.arange(v.shape[0])[:, None] == 2, np.nan, v) for k, v in views.items()},
        "has NaN or inf values",
    ),
    "rows differ": (lambda views: {k: v[: 5 + i] for i, (k, v) in enumerate(views.items())}, "differ in their number"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_inputs_end_in_one_line_and_exit_code_2(multiclass, tmp_path, case):
    path, ds = multiclass
    spoil, message = ERRORS[case]
    views = spoil({v: ds.views[v][ds.splits.test].astype(np.float64) for v in ds.view_names})
    np.savez(tmp_path / "new.npz", **{f"views/{v}": a for v, a in views.items()})
    _one_line_error(_predict(path, tmp_path / "new.npz", tmp_path / "p.csv"), message)
    assert not (tmp_path / "p.csv").exists()


def test_file_errors_end_in_one_line_and_an_existing_csv_is_kept(multiclass, tmp_path):
    path, ds = multiclass
    rows = ds.splits.test
    views = {f"views/{v}": ds.views[v][rows] for v in ds.view_names}
    np.savez(tmp_path / "new.npz", **views)
    (tmp_path / "mine.csv").write_text("keep")
    _one_line_error(_predict(path, tmp_path / "new.npz", tmp_path / "mine.csv"), "exists; pass --overwrite")
    assert (tmp_path / "mine.csv").read_text() == "keep"
    assert _predict(path, tmp_path / "new.npz", tmp_path / "mine.csv", "--overwrite").exit_code == 0
    (tmp_path / "new.txt").write_text("1,2,3")
    _one_line_error(_predict(path, tmp_path / "new.txt", tmp_path / "p.csv"), "give an .npz file, a .mat file")
    np.savez(tmp_path / "ids.npz", **views, id=np.arange(3))
    _one_line_error(_predict(path, tmp_path / "ids.npz", tmp_path / "p.csv"), f"'id' must be a vector of {len(rows)}")
    _one_line_error(_predict(tmp_path / "nowhere", tmp_path / "new.npz", tmp_path / "p.csv"), "no such export folder")
    _one_line_error(_predict(path, tmp_path / "new.npz", tmp_path / "p.csv", "--batch-size", 0), "at least 1")
