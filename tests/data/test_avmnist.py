import numpy as np

import automm
from automm.data.avmnist import load_avmnist, load_avmnist_tokens
from tests.conftest import shared_file


def test_small_build_is_split_by_recording_and_cached(tmp_path):
    data_dir = shared_file("fsdd").parent
    shared_file("mnist/t10k-images-idx3-ubyte.gz")
    ds = load_avmnist(data_dir, max_recordings=300, backbone_epochs=2, cache_dir=tmp_path)
    assert ds.view_dims == {
        "image/conv1": 16,
        "image/conv2": 32,
        "image/fc": 64,
        "audio/conv1": 16,
        "audio/conv2": 32,
        "audio/conv3": 64,
        "audio/fc": 64,
    }
    assert set(ds.modalities) == {"image", "audio"}
    s = ds.splits
    assert len(s.train) == 4 * len(s.val) == 4 * len(s.test)  # indices 10-13 / 5 / 0 per digit and speaker
    assert np.bincount(ds.labels[s.test]).tolist() == [len(s.test) // 10] * 10
    cached = list(tmp_path.glob("avmnist-*.npz"))
    assert len(cached) == 1
    again = load_avmnist(data_dir, max_recordings=300, backbone_epochs=2, cache_dir=tmp_path)
    assert all(np.array_equal(again.views[v], ds.views[v]) for v in ds.view_names)
    assert "backbone test accuracy image" in ds.description
    # the same cache holds the token views of the same rows
    tokens = load_avmnist_tokens(data_dir, max_recordings=300, backbone_epochs=2, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("avmnist-*.npz"))) == 1
    assert tokens.name == "avmnist-tokens" and tokens.token_lengths == {"image/grid": 49, "audio/frames": 16}
    assert tokens.view_dims == {"image/grid": 32, "audio/frames": 32}
    assert np.array_equal(tokens.labels, ds.labels) and np.array_equal(tokens.splits.test, s.test)
    # pooled over positions, the image grid is the image CNN's conv2 view
    assert np.allclose(tokens.views["image/grid"].mean(axis=1), ds.views["image/conv2"], atol=1e-5)
    # a short MFAS search runs on it: two modalities, several depths each
    study = automm.Study(
        ds, sampler="mfas", runs_dir=tmp_path / "runs", mfas={"k": 3, "iterations": 1, "max_layers": 2}
    )
    assert len(study.space.layer_choices()) == 3 * 4 * 3
    study.optimize(8)
    assert study.n_finished() == 8
