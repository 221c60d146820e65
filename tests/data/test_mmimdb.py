import h5py
import numpy as np
import pytest

import automm
from automm.data.mmimdb import GENRES, load_mmimdb
from automm.errors import AutommError


def write_release(path, n=48, split_attr=True, seed=0):
    """A small multimodal_imdb.hdf5 in the release's layout (Fuel split attribute, unread images)."""
    rng = np.random.default_rng(seed)
    genres = (rng.random((n, 23)) < 0.25).astype(np.int64)
    genres[:, 0] = 1  # every training movie has some genre; Drama is the most common, as in the release
    text = rng.standard_normal((n, 300)).astype(np.float32) + genres[:, :1] * 0.5
    vgg = rng.standard_normal((n, 4096)).astype(np.float32) + genres[:, 1:2]
    with h5py.File(path, "w") as f:
        f.create_dataset("features", data=text)
        f.create_dataset("vgg_features", data=vgg)
        f.create_dataset("genres", data=genres)
        f.create_dataset("imdb_ids", data=np.array([f"{i:07d}".encode() for i in range(n)], dtype="S7"))
        f.create_dataset("images", shape=(n, 3, 256, 160), dtype="int32")  # allocated lazily, never read
        if split_attr:
            a, b = int(n * 0.6), int(n * 0.8)
            dtype = np.dtype(
                [
                    ("split", "S5"),
                    ("source", "S15"),
                    ("start", "i8"),
                    ("stop", "i8"),
                    ("available", "?"),
                    ("comment", "S1"),
                ]
            )
            rows = [
                (s, src, lo, hi, True, b".")
                for s, lo, hi in ((b"train", 0, a), (b"dev", a, b), (b"test", b, n))
                for src in (b"features", b"vgg_features", b"genres")
            ]
            f.attrs["split"] = np.array(rows, dtype=dtype)
    return path


def test_loads_views_labels_and_fuel_split_without_reading_images(tmp_path, monkeypatch):
    write_release(tmp_path / "multimodal_imdb.hdf5")
    read = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        read.append(self.name)
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    ds = load_mmimdb(tmp_path)
    assert "/images" not in read
    assert ds.task == "multilabel" and ds.class_names == GENRES and ds.labels.shape == (48, 23)
    assert ds.view_dims == {"text/word2vec": 300, "image/vgg16_fc7": 4096}
    assert (len(ds.splits.train), len(ds.splits.val), len(ds.splits.test)) == (28, 10, 10)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(AutommError, match=r"expected multimodal_imdb\.hdf5 in .*lisi1\.unal\.edu\.co"):
        load_mmimdb(tmp_path)
    write_release(tmp_path / "multimodal_imdb.hdf5", split_attr=False)
    with pytest.raises(AutommError, match="no split attribute and 48 rows"):
        load_mmimdb(tmp_path)
    (tmp_path / "multimodal_imdb.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(AutommError, match="not a readable HDF5 file"):
        load_mmimdb(tmp_path)


def test_short_multilabel_search_end_to_end(tmp_path):
    write_release(tmp_path / "multimodal_imdb.hdf5", n=120)
    study = automm.Study(
        "mmimdb",
        data_dir=tmp_path,
        runs_dir=tmp_path / "runs",
        config=automm.SearchConfig(fusion_dim=16, max_views=2, max_epochs=10, patience=3),
        ksnas={"population_size": 3, "generations": 2},
        knowledge={"kb_epochs": 1},
    )
    study.optimize()
    assert study.metric == "weighted_f1" and 0.0 <= study.best_value <= 1.0
    result = study.evaluate()
    assert result.details[0]["threshold"] == 0.5 and set(result.details[0]) >= {"macro_f1", "micro_f1", "samples_f1"}
