"""The linear candidate: logistic regression as scikit-learn fits it, C chosen out of fold."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from automm.core.errors import AutommError
from automm.delivery.linear_candidate import choose_linear, choose_linear_views, linear_view_sets
from automm.engine.fold_data import Fold
from automm.engine.linear_net import LinearGenotype, fit_linear, is_linear
from automm.engine.training import TensorData


def _data(n: int = 300, seed: int = 0, classes: int = 3) -> tuple[TensorData, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, 6))
    x = centres[labels] + rng.normal(scale=1.5, size=(n, 6))
    views = {"a": torch.tensor(x[:, :4], dtype=torch.float32), "b": torch.tensor(x[:, 4:], dtype=torch.float32)}
    return TensorData(views, torch.from_numpy(labels)), x


@pytest.mark.parametrize("c", [0.01, 1.0, 10.0])
@pytest.mark.parametrize("start_c", [None, 0.001])
def test_fit_linear_is_scikit_learns_logistic_regression(c, start_c):
    data, x = _data()
    start = None if start_c is None else fit_linear(data, ["a", "b"], "multiclass", 3, start_c)
    net = fit_linear(data, ["a", "b"], "multiclass", 3, c, start=start)  # from zero, or from another C's fit
    ours = torch.softmax(net(data.views), dim=1).detach().numpy()
    theirs = LogisticRegression(C=c, max_iter=5000, tol=1e-8).fit(x, data.labels.numpy()).predict_proba(x)
    np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_fit_linear_multilabel_is_one_regression_per_label():
    data, x = _data()
    labels = np.stack([(data.labels.numpy() == 0), (data.labels.numpy() == 2)], axis=1).astype(np.float32)
    multi = TensorData(data.views, torch.from_numpy(labels))
    net = fit_linear(multi, ["a", "b"], "multilabel", 2, 1.0)
    ours = torch.sigmoid(net(data.views)).detach().numpy()
    for j in range(2):
        theirs = LogisticRegression(C=1.0, max_iter=5000, tol=1e-8).fit(x, labels[:, j]).predict_proba(x)[:, 1]
        np.testing.assert_allclose(ours[:, j], theirs, atol=2e-3)
    with pytest.raises(AutommError, match="positive"):
        fit_linear(multi, ["a"], "multilabel", 2, 0.0)


def test_choose_linear_scores_out_of_fold_and_keeps_the_best_c():
    data, _ = _data(n=240)
    rows = np.arange(240)
    folds = []
    for k in range(3):
        val = rows[k::3]
        train = np.setdiff1d(rows, val)

        def part(r: np.ndarray) -> TensorData:
            return TensorData({v: t[r] for v, t in data.views.items()}, data.labels[r])

        folds.append((Fold(train, val), part(train), part(val)))
    chosen = choose_linear(folds, ["a", "b"], "multiclass", 3, grid=(1e-4, 1.0))
    assert chosen.c == 1.0 and chosen.scores_by_c[1.0] > chosen.scores_by_c[1e-4]
    assert np.array_equal(chosen.rows, rows) and chosen.probabilities.shape == (240, 3)
    # each row's probability comes from the fold that did not train on it (C = 1 fitted from C = 1e-4's fit)
    smaller = fit_linear(folds[1][1], ["a", "b"], "multiclass", 3, 1e-4)
    net = fit_linear(folds[1][1], ["a", "b"], "multiclass", 3, 1.0, start=smaller)
    expected = torch.softmax(net(folds[1][2].views), dim=1).detach().numpy()
    np.testing.assert_allclose(chosen.probabilities[rows[1::3]], expected, atol=1e-5)
    with pytest.raises(AutommError, match="at least one fold"):
        choose_linear([], ["a"], "multiclass", 3)


def _folds(views: dict[str, np.ndarray], labels: np.ndarray, k: int = 3) -> list:
    rows = np.arange(len(labels))
    tensors = {v: torch.tensor(x, dtype=torch.float32) for v, x in views.items()}
    out = []
    for i in range(k):
        val = rows[i::k]
        train = np.setdiff1d(rows, val)

        def part(r: np.ndarray) -> TensorData:
            return TensorData({v: t[r] for v, t in tensors.items()}, torch.from_numpy(labels[r]))

        out.append((Fold(train, val), part(train), part(val)))
    return out


def test_the_linear_candidate_reads_one_view_when_that_view_alone_is_best_out_of_fold():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 90)
    signal = labels[:, None] * 1.5 + rng.normal(size=(90, 2))  # view a carries the label
    noise = rng.normal(size=(90, 400))  # view b is wide noise: concatenated, it costs out-of-fold score
    chosen = choose_linear_views(_folds({"a": signal, "b": noise}, labels), ["a", "b"], "multiclass", 2)
    assert list(chosen.scores_by_views) == ["a,b", "a", "b"]
    assert chosen.genotype.views == ("a",) and chosen.score == max(chosen.scores_by_views.values())
    assert chosen.scores_by_views["a"] > chosen.scores_by_views["a,b"] > chosen.scores_by_views["b"]


def test_the_linear_candidate_concatenates_when_the_label_needs_every_view():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(240, 2))
    labels = (x[:, 0] + x[:, 1] > 0).astype(np.int64)  # half of the label in each view
    views = {"a": x[:, :1] + 0.1 * rng.normal(size=(240, 1)), "b": x[:, 1:] + 0.1 * rng.normal(size=(240, 1))}
    chosen = choose_linear_views(_folds(views, labels), ["a", "b"], "multiclass", 2)
    assert chosen.genotype.views == ("a", "b")
    assert chosen.scores_by_views["a,b"] > max(chosen.scores_by_views["a"], chosen.scores_by_views["b"])
    assert linear_view_sets(["a"]) == [("a",)]  # one view: nothing else to try


def test_linear_genotype_strings():
    genotype = LinearGenotype(("image/x", "text/y"))
    assert str(genotype) == "linear(image/x,text/y)"
    assert LinearGenotype.parse(str(genotype)) == genotype and is_linear(genotype) and is_linear(str(genotype))
    assert not is_linear("concat(a,b)")
    with pytest.raises(AutommError):
        LinearGenotype.parse("linear()")
