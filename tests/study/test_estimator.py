"""`automm.FusionClassifier`: scikit-learn's estimator checks, views as a dict or as column ranges, classes
of any kind, multilabel, clone, pickling and save/load through the verified export, and the README's
``cross_val_score`` example run verbatim."""

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import automm
from automm.core.errors import AutommError
from tests.conftest import make_toy

FAST = {"max_epochs": 30, "fusion_dim": 16, "patience": 5, "lr": 0.01}


def _fast(**params):
    """A classifier that fits in about a second: two random trials on one split, the best one delivered."""
    return automm.FusionClassifier(
        time_budget=None, trials=2, method="random", folds=1, ensemble_size=1, config=FAST, **params
    )


@parametrize_with_checks([_fast()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)  # every check that applies; pandas and array-API ones skip without those packages


@pytest.fixture(scope="module")
def toy():
    ds = make_toy(n=300)
    X = np.concatenate([ds.views[v] for v in ds.view_names], axis=1)
    widths = np.cumsum([0] + [ds.views[v].shape[1] for v in ds.view_names])
    ranges = {v: (int(widths[i]), int(widths[i + 1])) for i, v in enumerate(ds.view_names)}
    names = np.array(["cat", "dog", "fox", "owl"])[ds.labels]  # classes of any kind come back as given
    return X, names, ranges, ds


@pytest.fixture(scope="module")
def fitted(toy):
    X, y, ranges, _ = toy
    return _fast(views=ranges).fit(X[:240], y[:240])


def test_column_ranges_become_views_and_predictions_are_the_given_classes(fitted, toy):
    X, y, ranges, _ = toy
    assert fitted.views_ == ranges and fitted.n_features_in_ == X.shape[1]
    assert list(fitted.classes_) == ["cat", "dog", "fox", "owl"]
    predicted = fitted.predict(X[240:])
    assert set(predicted) <= set(fitted.classes_)
    proba = fitted.predict_proba(X[240:])
    assert proba.shape == (60, 4) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(predicted, fitted.classes_[proba.argmax(axis=1)])
    assert fitted.score(X[240:], y[240:]) == pytest.approx(float((predicted == y[240:]).mean()))
    assert fitted.score(X[240:], y[240:]) > 0.5  # the label needs two views; chance is 0.25
    model_views = set(fitted.model_.views)
    assert model_views <= set(ranges) and model_views  # the delivered model reads the named views


def test_a_dict_of_views_fits_like_the_column_ranges(toy):
    X, y, ranges, _ = toy
    as_dict = {v: X[:240, a:b] for v, (a, b) in ranges.items()}
    from_dict = _fast().fit(as_dict, y[:240])
    from_ranges = _fast(views=ranges).fit(X[:240], y[:240])
    test = {v: X[240:, a:b] for v, (a, b) in ranges.items()}
    np.testing.assert_allclose(from_dict.predict_proba(test), from_ranges.predict_proba(X[240:]), atol=1e-6)
    with pytest.raises(AutommError, match="fitted on a dict of views"):
        from_dict.predict(X[240:])
    with pytest.raises(AutommError, match="fitted on a 2-D array"):
        from_ranges.predict(test)


def test_multilabel_targets_give_a_label_matrix(toy):
    ds = make_toy(n=240, task="multilabel")
    X = np.concatenate([ds.views[v] for v in ds.view_names], axis=1)
    clf = _fast().fit(X[:200], ds.labels[:200].astype(int))
    predicted = clf.predict(X[200:])
    assert predicted.shape == (40, 3) and set(np.unique(predicted)) <= {0, 1}
    assert list(clf.classes_) == [0, 1, 2] and clf.predict_proba(X[200:]).shape == (40, 3)


def test_clone_get_params_and_set_params(fitted):
    params = fitted.get_params()
    assert params["method"] == "random" and params["config"] == FAST and params["time_budget"] is None
    copy = clone(fitted)
    assert copy.get_params() == params and not hasattr(copy, "model_")
    with pytest.raises(NotFittedError):
        copy.predict(np.zeros((2, 11)))
    assert copy.set_params(seed=3, time_budget="20s").get_params()["time_budget"] == "20s"


def test_pickling_goes_through_the_verified_export(fitted, toy):
    X = toy[0][240:]
    payload = pickle.dumps(fitted)
    assert b"torch._utils" not in payload and b"_rebuild_tensor" not in payload  # no pickled tensors
    again = pickle.loads(payload)
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    state = fitted.__getstate__()
    description, files = state["_fitted"]
    spoiled = dict(files)
    spoiled["model.safetensors"] = spoiled["model.safetensors"][:-8] + b"\0" * 8
    with pytest.raises(AutommError, match="corrupted or was modified"):
        automm.FusionClassifier().__setstate__({**state, "_fitted": (description, spoiled)})


def test_save_and_load(fitted, toy, tmp_path):
    X = toy[0][240:]
    path = fitted.save(tmp_path / "clf")
    assert automm.load_model(path).views  # the folder is an automm export too
    loaded = automm.FusionClassifier.load(path)
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.get_params() == fitted.get_params()
    with pytest.raises(AutommError, match="not empty"):
        fitted.save(path)
    (path / "preprocessing.safetensors").write_bytes(b"spoiled")
    with pytest.raises(AutommError, match="corrupted or was modified"):
        automm.FusionClassifier.load(path)
    with pytest.raises(AutommError, match="not a saved FusionClassifier"):
        automm.FusionClassifier.load(tmp_path / "nowhere")


def test_bad_views_and_shapes_are_refused(toy):
    X, y, ranges, _ = toy
    with pytest.raises(AutommError, match=r"is not a column range of X's 11 columns"):
        _fast(views={"a": (0, 12)}).fit(X, y)
    with pytest.raises(AutommError, match=r"must be \(start, end\)"):
        _fast(views={"a": "all"}).fit(X, y)
    with pytest.raises(ValueError, match="11 features"):
        _fast(views=ranges).fit(X[:240], y[:240]).predict(X[240:, :5])


def test_a_pipeline_in_cross_val_score(toy):
    X, y, ranges, _ = toy
    scores = cross_val_score(Pipeline([("fusion", _fast(views=ranges))]), X, y, cv=2)
    assert scores.shape == (2,) and (scores > 0.4).all()


def test_the_readme_cross_val_score_example_runs_verbatim(capsys):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"<!-- example: cross_val_score -->\n```python\n(.*?)```", readme, re.S)
    assert block is not None, "the README lost its cross_val_score example"
    exec(compile(block.group(1), "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    scores = [float(s) for s in re.findall(r"\d\.\d+", printed)]
    assert len(scores) == 3 and min(scores) > 0.7, printed
