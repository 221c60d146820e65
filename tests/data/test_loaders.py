from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse

from automm.core.errors import AutommError
from automm.data import load_dataset
from automm.data.digits import load_digits
from automm.data.handwritten import VIEWS, load_handwritten
from automm.data.matfile import load_mat
from automm.data.npzfile import load_npy_folder, load_npz
from tests.conftest import SHARED_DATA, shared_file


def _cell(*views):
    cell = np.empty((1, len(views)), dtype=object)
    for i, v in enumerate(views):
        cell[0, i] = v
    return cell


def _views(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.standard_normal((n, 3))


def test_digits_views_differ_and_split_is_stratified():
    ds = load_digits(seed=0)
    assert ds.view_dims == {
        "pixels/top": 32,
        "pixels/bottom": 32,
        "shape/profiles": 16,
        "shape/gradients": 32,
        "shape/moments": 10,
    }
    assert ds.n_samples == 1797 and ds.task == "multiclass"
    assert set(ds.modalities) == {"pixels", "shape"}
    assert np.bincount(ds.labels[ds.splits.test]).min() >= 34


def test_mat_cell_layout_one_based_labels(tmp_path):
    a, b = _views()
    labels = (np.arange(60) % 3 + 1).reshape(-1, 1)
    scipy.io.savemat(tmp_path / "m.mat", {"X": _cell(a, b), "Y": labels})
    ds = load_mat(tmp_path / "m.mat")
    assert ds.view_dims == {"view1": 5, "view2": 3}
    assert sorted(np.unique(ds.labels)) == [0, 1, 2] and ds.class_names == ["1", "2", "3"]
    assert np.allclose(ds.views["view1"], a.astype(np.float32))


def test_mat_transposed_sparse_views_and_gnd(tmp_path):
    a, b = _views()
    scipy.io.savemat(tmp_path / "m.mat", {"X": _cell(a.T, scipy.sparse.csr_matrix(b)), "gnd": np.arange(60) % 2})
    ds = load_mat(tmp_path / "m.mat")
    assert ds.views["view1"].shape == (60, 5) and np.allclose(ds.views["view1"], a)
    assert np.allclose(ds.views["view2"], b)


def test_mat_fixed_train_test_indices_one_based(tmp_path):
    a, b = _views()
    train, test = np.arange(1, 49), np.arange(49, 61)  # MATLAB 1-based
    scipy.io.savemat(tmp_path / "m.mat", {"X": _cell(a, b), "gt": np.arange(60) % 2, "train": train, "test": test})
    ds = load_mat(tmp_path / "m.mat")
    assert np.array_equal(ds.splits.test, np.arange(48, 60))


def test_mat_multilabel(tmp_path):
    a, b = _views()
    y = np.zeros((60, 3), dtype=np.uint8)
    y[np.arange(60), np.arange(60) % 3] = 1
    y[::2, 0] = 1
    scipy.io.savemat(tmp_path / "m.mat", {"X": _cell(a, b), "Y": y})
    ds = load_mat(tmp_path / "m.mat")
    assert ds.task == "multilabel" and ds.labels.shape == (60, 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"Y": np.arange(60) % 2}, "no 'X' cell of views"),
        ({"X": np.zeros((60, 3)), "Y": np.arange(60) % 2}, "must be a cell array"),
        ({"X": "cell"}, "no labels"),
        ({"X": "cell", "Y": np.arange(50) % 2}, "matches neither dimension to the 50 labels"),
    ],
)
def test_mat_errors(tmp_path, content, message):
    a, b = _views()
    content = {k: (_cell(a, b) if isinstance(v, str) else v) for k, v in content.items()}
    scipy.io.savemat(tmp_path / "m.mat", content)
    with pytest.raises(AutommError, match=message):
        load_mat(tmp_path / "m.mat")


def test_mat_corrupt_and_missing(tmp_path):
    (tmp_path / "bad.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(AutommError, match=r"not a readable \.mat file"):
        load_mat(tmp_path / "bad.mat")
    with pytest.raises(AutommError, match="no such file"):
        load_mat(tmp_path / "none.mat")


def test_npz_layout_round_trip(tmp_path):
    a, b = _views()
    np.savez(
        tmp_path / "d.npz",
        **{
            "views/image/l1": a,
            "views/text/emb": b,
            "labels": np.arange(60) % 2,
            "class_names": np.array(["neg", "pos"]),
        },
    )
    ds = load_dataset(data=tmp_path / "d.npz")
    assert ds.view_names == ["image/l1", "text/emb"] and ds.class_names == ["neg", "pos"]
    assert ds.modalities == {"image": ["image/l1"], "text": ["text/emb"]}


def test_npz_given_splits_and_errors(tmp_path):
    a, _ = _views()
    idx = np.arange(60)
    np.savez(
        tmp_path / "d.npz", **{"views/a": a, "labels": idx % 2, "train": idx[:40], "val": idx[40:50], "test": idx[50:]}
    )
    ds = load_npz(tmp_path / "d.npz")
    assert np.array_equal(ds.splits.val, idx[40:50])
    np.savez(tmp_path / "noviews.npz", labels=idx % 2)
    with pytest.raises(AutommError, match="no views"):
        load_npz(tmp_path / "noviews.npz")
    np.savez(tmp_path / "pickled.npz", **{"views/a": a, "labels": np.array([object()] * 60)})
    with pytest.raises(AutommError, match="holds Python objects; automm never unpickles"):
        load_npz(tmp_path / "pickled.npz")


def test_npy_folder_is_an_unzipped_npz(tmp_path):
    a, b = _views()
    idx = np.arange(60)
    arrays = {
        "views/image/l1": a,
        "views/text/emb": b,
        "labels": idx % 2,
        "class_names": np.array(["neg", "pos"]),
        "train": idx[:40],
        "val": idx[40:50],
        "test": idx[50:],
    }
    np.savez(tmp_path / "d.npz", **arrays)
    folder = tmp_path / "feats"
    for key, value in arrays.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{key}.npy", value)
    (folder / "README.txt").write_text("not an array: ignored")
    from_folder = load_dataset(data=folder)
    from_npz = load_npz(tmp_path / "d.npz")
    assert from_folder.name == "feats" and from_folder.view_names == from_npz.view_names == ["image/l1", "text/emb"]
    assert from_folder.class_names == ["neg", "pos"] and from_folder.modalities == from_npz.modalities
    for view in from_npz.view_names:
        assert np.array_equal(from_folder.views[view], from_npz.views[view])
    assert np.array_equal(from_folder.labels, from_npz.labels)
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(from_folder.splits, part), getattr(from_npz.splits, part))


def test_npy_folder_errors(tmp_path):
    a, _ = _views()
    with pytest.raises(AutommError, match="no such file or folder"):
        load_dataset(data=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AutommError, match=r"no \.npy files"):
        load_npy_folder(tmp_path / "empty")
    folder = tmp_path / "f"
    (folder / "views").mkdir(parents=True)
    np.save(folder / "views" / "a.npy", a)
    with pytest.raises(AutommError, match="no 'labels' array"):
        load_npy_folder(folder)
    np.save(folder / "labels.npy", np.array([object()] * 60), allow_pickle=True)
    with pytest.raises(AutommError, match=r"labels\.npy: holds Python objects; automm never unpickles"):
        load_npy_folder(folder)
    np.save(folder / "labels.npy", np.arange(59) % 2)
    with pytest.raises(AutommError, match="has 60 samples but labels have 59"):
        load_npy_folder(folder)


def test_registry_errors(tmp_path):
    with pytest.raises(AutommError, match="unknown data set 'nope'"):
        load_dataset("nope")
    with pytest.raises(AutommError, match=r"handwritten: .* not found in"):
        load_dataset("handwritten", data_dir=tmp_path)
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(AutommError, match="unsupported file type"):
        load_dataset(data=tmp_path / "x.csv")


def test_handwritten_mat_from_shared_data():
    shared_file("handwritten_6views.mat")
    ds = load_dataset("handwritten", data_dir=SHARED_DATA)
    assert ds.view_dims == {v: w for v, _, w in VIEWS}
    assert ds.n_samples == 2000 and len(ds.splits.test) == 400
    assert np.array_equal(ds.splits.test, np.arange(1600, 2000))


def test_handwritten_uci_text_files(tmp_path):
    path = shared_file("handwritten_6views.mat")
    mat = scipy.io.loadmat(path)
    labels = np.r_[mat["gt_train"].ravel(), mat["gt_test"].ravel()] - 1
    order = np.argsort(labels, kind="stable")  # UCI files hold 200 rows per digit, in digit order
    for i, (_, filename, _) in enumerate(VIEWS, start=1):
        rows = np.r_[mat[f"x{i}_train"], mat[f"x{i}_test"]][order]
        np.savetxt(tmp_path / filename, rows, fmt="%.6g")
    ds = load_handwritten(tmp_path)
    assert ds.n_samples == 2000 and np.bincount(ds.labels).tolist() == [200] * 10
    assert np.allclose(ds.views["digit/mor"], np.r_[mat["x6_train"], mat["x6_test"]][order], rtol=1e-5)


def test_cub_loads_through_generic_mat_loader():
    path = shared_file("CUB.mat")
    ds = load_dataset(data=path)
    assert ds.view_dims == {"view1": 1024, "view2": 300} and ds.n_classes == 10
    named = load_dataset("cub", data_dir=SHARED_DATA)
    assert named.view_names == ["image/googlenet", "text/doc2vec"]


def test_mat_file_names_its_views_and_their_modalities(tmp_path):
    rng = np.random.default_rng(0)
    views = np.empty((1, 2), dtype=object)
    views[0, 0], views[0, 1] = rng.standard_normal((40, 4)), rng.standard_normal((40, 3))
    names = np.empty((1, 2), dtype=object)
    names[0, 0], names[0, 1] = "image/googlenet", "text/doc2vec"
    scipy.io.savemat(tmp_path / "named.mat", {"X": views, "Y": np.arange(40) % 2, "view_names": names})
    ds = load_mat(tmp_path / "named.mat")
    assert ds.view_names == ["image/googlenet", "text/doc2vec"]
    assert "2 views of 2 modalities (image/googlenet[4], text/doc2vec[3])" in ds.summary()
    scipy.io.savemat(tmp_path / "plain.mat", {"X": views, "Y": np.arange(40) % 2})
    assert load_mat(tmp_path / "plain.mat").view_names == ["view1", "view2"]
    names[0, 1] = "image/googlenet"
    scipy.io.savemat(tmp_path / "twice.mat", {"X": views, "Y": np.arange(40) % 2, "view_names": names})
    with pytest.raises(AutommError, match="view_names must be distinct"):
        load_mat(tmp_path / "twice.mat")


CRASHING_MAT = Path(__file__).parent / "files" / "crashes_scipy_reader.mat"  # bytes a fuzz case changed


def test_a_mat_file_that_crashes_scipys_reader_is_refused_in_one_line(tmp_path, monkeypatch):
    import os
    import signal

    import scipy.io

    from automm.data import matfile

    path = tmp_path / "d.mat"
    scipy.io.savemat(path, {"X": np.empty((1, 0), dtype=object), "Y": np.arange(3)})
    monkeypatch.setattr(scipy.io, "loadmat", lambda *a, **k: os.kill(os.getpid(), signal.SIGSEGV))
    with pytest.raises(AutommError, match=r"scipy's reader crashed on it, signal 11"):
        matfile.load_mat(path)  # the forked child died; this process did not try


def test_a_mat_file_loads_inside_a_daemonic_pool_worker(tmp_path):
    import multiprocessing as mp

    import scipy.io

    path = tmp_path / "d.mat"
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = np.ones((12, 3)), np.zeros((12, 2))
    scipy.io.savemat(path, {"X": cell, "Y": np.arange(12) % 2})
    with mp.get_context("spawn").Pool(1) as pool:  # its workers are daemonic: no multiprocessing children
        assert pool.apply(_rows_of, (str(path),)) == 12


def test_the_damaged_file_that_crashed_a_fuzz_run_is_one_error_line():
    import subprocess
    import sys

    code = (
        "from automm.data.matfile import load_mat\n"
        "try:\n"
        f"    load_mat({str(CRASHING_MAT)!r})\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.returncode  # the process survives it (scipy 1.17.1 alone crashes)
    assert done.stdout.startswith("AutommError ") and "not a readable .mat file" in done.stdout
    assert len(done.stdout.strip().splitlines()) == 1


def _rows_of(path: str) -> int:
    from automm.data.matfile import load_mat

    return load_mat(path).n_samples
