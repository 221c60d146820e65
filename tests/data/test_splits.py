import numpy as np

from automm.data.preprocess import Standardizer
from automm.data.splits import make_splits


def test_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(5), 40)
    s = make_splits(labels, seed=3)
    assert len(s.train) + len(s.val) + len(s.test) == 200
    assert not set(s.train) & set(s.val) and not set(s.train) & set(s.test) and not set(s.val) & set(s.test)
    assert np.bincount(labels[s.test]).tolist() == [8] * 5
    assert np.bincount(labels[s.val]).tolist() == [8] * 5
    again = make_splits(labels, seed=3)
    assert np.array_equal(again.train, s.train)
    assert not np.array_equal(make_splits(labels, seed=4).train, s.train)


def test_fixed_test_split_kept():
    labels = np.repeat(np.arange(2), 50)
    test = np.arange(90, 100)
    s = make_splits(labels, seed=0, test=test)
    assert np.array_equal(s.test, test)
    assert len(s.val) == 18 and not set(s.val) & set(test)


def test_standardizer_uses_only_fitting_rows():
    x = np.r_[np.zeros((10, 2)), np.full((10, 2), 100.0)].astype(np.float32)
    x[:10, 0] = np.arange(10)
    st = Standardizer.fit({"v": x}, np.arange(10))
    assert np.allclose(st.mean["v"], [4.5, 0.0])
    assert st.scale["v"][1] == 1.0  # constant column
    out = st.transform({"v": x}, np.arange(10))["v"]
    assert np.allclose(out.mean(axis=0), 0, atol=1e-6)
