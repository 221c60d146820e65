import numpy as np
import pytest

from automm.core.errors import AutommError
from automm.data.dataset import MultimodalDataset, Splits


def _make(**over):
    rng = np.random.default_rng(0)
    n = 40
    args = dict(
        name="t",
        views={"a/x": rng.standard_normal((n, 3)), "b/y": rng.standard_normal((n, 2))},
        labels=np.arange(n) % 2,
        task="multiclass",
        splits=Splits(np.arange(0, 20), np.arange(20, 30), np.arange(30, 40)),
    )
    args.update(over)
    return MultimodalDataset(**args)


def test_valid_dataset_properties():
    ds = _make()
    assert ds.n_samples == 40 and ds.n_classes == 2
    assert ds.view_dims == {"a/x": 3, "b/y": 2}
    assert ds.modalities == {"a": ["a/x"], "b": ["b/y"]}
    assert ds.views["a/x"].dtype == np.float32


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"views": {"a/x": np.zeros((39, 3))}}, "'a/x' has 39 samples but labels have 40"),
        ({"views": {"a/x": np.full((40, 3), np.nan)}}, "'a/x' has NaN or inf"),
        ({"views": {"a/x": np.r_[np.zeros((39, 3)), [[np.inf, 0, 0]]]}}, "NaN or inf values in 1 samples"),
        ({"views": {"a/x": np.zeros((40, 0))}}, "'a/x' has zero width"),
        ({"views": {"a/x": np.zeros(40)}}, "'a/x' must be 2-D"),
        ({"views": {}}, "has no views"),
        ({"views": {"a.x": np.zeros((40, 2))}}, "view name 'a.x'"),
        ({"labels": np.arange(80).reshape(40, 2) % 2}, "labels must be 1-D"),
        ({"labels": np.full(40, 0.5)}, "must be integers"),
        ({"labels": np.arange(40) % 2 - 1}, "labels must lie in"),
        ({"labels": np.zeros(40, dtype=int)}, "at least 2 classes"),
        ({"labels": np.full((40, 3), 2), "task": "multilabel"}, "only 0 and 1"),
        ({"task": "regression"}, "task must be one of"),
        ({"splits": Splits(np.arange(0, 25), np.arange(20, 30), np.arange(30, 40))}, "'train' and 'val' overlap in 5"),
        ({"splits": Splits(np.arange(0, 20), np.arange(20, 30), np.arange(29, 40))}, "'val' and 'test' overlap"),
        ({"splits": Splits(np.arange(0, 20), np.arange(20, 30), np.arange(30, 41))}, "'test' has indices outside"),
        ({"splits": Splits(np.arange(0, 20), np.array([], dtype=int), np.arange(30, 40))}, "must not be empty"),
        ({"splits": Splits(np.arange(0, 40, 2), np.arange(1, 21, 2), np.arange(21, 40, 2))}, "leaves out class(es) 1"),
        ({"splits": Splits(np.array([0, 0, 1]), np.arange(20, 30), np.arange(30, 40))}, "repeats indices"),
    ],
)
def test_invalid_inputs_name_the_problem(override, message):
    with pytest.raises(AutommError, match=None) as info:
        _make(**override)
    assert message in str(info.value)
    assert str(info.value).startswith("data set 't':")


def test_multilabel_class_left_out_of_training():
    labels = np.zeros((40, 3), dtype=int)
    labels[:, 0] = 1
    labels[35, 2] = 1  # class 2 only in the test split
    with pytest.raises(AutommError, match="leaves out class"):
        _make(labels=labels, task="multilabel")
