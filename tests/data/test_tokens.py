"""Token views (N, L, d): validation, masks, the `.npz` and `.npy`-folder layouts, pooling, a search."""

import numpy as np
import pytest

import automm
from automm.core.errors import AutommError
from automm.data.dataset import MultimodalDataset
from automm.data.npzfile import load_npy_folder, load_npz
from automm.data.splits import make_splits
from automm.data.tokens import pool_tokens, pooled


def _token_data(n: int = 200, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A vector view and a padded token view (L 6, d 3); the label is in the token view's real tokens."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    lengths = rng.integers(1, 7, n)
    mask = np.arange(6)[None, :] < lengths[:, None]
    tokens = rng.standard_normal((n, 6, 3)).astype(np.float32)
    tokens[:, :, 0] += 2.0 * labels[:, None]  # every real token carries the label
    tokens[~mask] = np.nan  # padding may hold anything
    return {"text/tokens": tokens, "image/vec": rng.standard_normal((n, 4))}, mask, labels


MASK = _token_data()[1]


def _dataset(**changes) -> MultimodalDataset:
    views, mask, labels = _token_data()
    fields = {
        "name": "tok",
        "views": views,
        "labels": labels,
        "task": "multiclass",
        "splits": make_splits(labels, seed=0),
        "masks": {"text/tokens": mask},
    }
    return MultimodalDataset(**{**fields, **changes})


def test_a_token_view_keeps_its_tokens_and_its_padding_becomes_zero():
    ds = _dataset()
    assert ds.view_dims == {"text/tokens": 3, "image/vec": 4}
    assert ds.token_lengths == {"text/tokens": 6}
    assert "text/tokens[6 x 3]" in ds.summary() and "image/vec[4]" in ds.summary()
    mask = ds.masks["text/tokens"]
    assert mask.dtype == bool and np.isfinite(ds.views["text/tokens"]).all()
    assert (ds.views["text/tokens"][~mask] == 0).all()
    renamed = ds.with_view_names(["text/minilm", "image/fc"])
    assert set(renamed.masks) == {"text/minilm"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"masks": {"text/tokens": np.ones((200, 5), bool)}}, "expected \\(200, 6\\)"),
        ({"masks": {"text/tokens": MASK, "image/vec": np.ones((200, 4), bool)}}, "has a mask but no tokens"),
        ({"masks": {"text/tokens": MASK, "text/other": np.ones((200, 6), bool)}}, "does not have"),
        ({"masks": {"text/tokens": np.zeros((200, 6), bool)}}, "200 samples without any token"),
        ({"masks": {"text/tokens": np.full((200, 6), 2)}}, "must be bool"),
        ({"masks": {}}, "NaN or inf values in"),  # without a mask, NaN tokens are real tokens
        ({"views": {"x": np.zeros((200, 2, 2, 2))}, "masks": {}}, "2-D \\(samples x features\\) or 3-D"),
        ({"views": {"x": np.zeros((200, 0, 2))}, "masks": {}}, "has no tokens"),
    ],
)
def test_bad_token_views_and_masks_are_refused_with_a_message(change, message):
    with pytest.raises(AutommError, match=message):
        _dataset(**change)


def test_pooling_is_the_mean_over_real_tokens():
    tokens = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[True, True, False], [True, False, False]])
    tokens[~mask] = np.nan
    assert np.allclose(pool_tokens(tokens, mask), [[1.0, 2.0], [6.0, 7.0]])
    assert np.allclose(pool_tokens(np.ones((2, 3, 2)), None), 1.0)
    flat = pooled(_dataset())
    assert flat.token_lengths == {} and flat.masks == {} and flat.view_dims == {"text/tokens": 3, "image/vec": 4}
    ds = _dataset()
    expected = pool_tokens(ds.views["text/tokens"], ds.masks["text/tokens"])
    assert np.allclose(flat.views["text/tokens"], expected)


@pytest.mark.parametrize("form", ["npz", "folder"])
def test_the_npz_and_npy_folder_layouts_take_token_views_and_their_masks(tmp_path, form):
    views, mask, labels = _token_data()
    arrays = {"views/text/tokens": views["text/tokens"], "views/text/tokens_mask": mask}
    arrays |= {"views/image/vec": views["image/vec"], "labels": labels}
    if form == "npz":
        np.savez(tmp_path / "d.npz", **arrays)
        ds = load_npz(tmp_path / "d.npz")
    else:
        for key, value in arrays.items():
            (tmp_path / "d" / key).parent.mkdir(parents=True, exist_ok=True)
            np.save(tmp_path / "d" / f"{key}.npy", value)
        ds = load_npy_folder(tmp_path / "d")
    assert ds.view_names == ["text/tokens", "image/vec"] or set(ds.view_names) == {"text/tokens", "image/vec"}
    assert np.array_equal(ds.masks["text/tokens"], mask)
    # a *_mask key beside a vector view is a view of its own
    np.savez(
        tmp_path / "e.npz", **{"views/a": views["image/vec"], "views/a_mask": views["image/vec"], "labels": labels}
    )
    assert set(load_npz(tmp_path / "e.npz").view_names) == {"a", "a_mask"}


def test_a_search_over_token_views_pools_them_and_the_model_pools_token_arrays(tmp_path):
    ds = _dataset()
    study = automm.Study(ds, method="tpe", runs_dir=tmp_path, folds=1, ensemble_size=1)
    assert study.dataset.token_lengths == {}  # the fusion-tree networks take vectors
    study.optimize(3)
    model = automm.load_model(study.export(tmp_path / "model", genotype=study.best_genotype))
    test = ds.splits.test
    tokens, mask = ds.views["text/tokens"][test].copy(), ds.masks["text/tokens"][test]
    tokens[~mask] = np.nan  # what a user's padding may hold
    with_tokens = model.predict_proba(
        {"text/tokens": tokens, "text/tokens_mask": mask, "image/vec": ds.views["image/vec"][test]}
    )
    flat = study.dataset.views
    with_vectors = model.predict_proba({v: flat[v][test] for v in flat})
    assert np.allclose(with_tokens, with_vectors, atol=1e-6)
    accuracy = (with_tokens.argmax(1) == ds.labels[test]).mean()
    assert accuracy > 0.8  # the label is in the pooled tokens
    with pytest.raises(AutommError, match="the mask of view"):
        model.predict(
            {"text/tokens": tokens, "text/tokens_mask": mask[:, :3], "image/vec": ds.views["image/vec"][test]}
        )


def test_token_views_are_standardised_per_channel_over_real_tokens_only():
    from automm.data.preprocess import Standardizer

    ds = _dataset()
    rows = ds.splits.train
    st = Standardizer.fit(ds.views, rows, ds.masks)
    mask = ds.masks["text/tokens"][rows]
    real = ds.views["text/tokens"][rows][mask]  # (tokens, 3)
    assert st.mean["text/tokens"].shape == (3,)
    assert np.allclose(st.mean["text/tokens"], real.mean(axis=0), atol=1e-5)
    out = st.transform(ds.views, rows, ds.masks)["text/tokens"]
    assert np.allclose(out[mask].mean(axis=0), 0, atol=1e-5) and np.allclose(out[mask].std(axis=0), 1, atol=1e-4)
    assert (out[~mask] == 0).all()  # padding stays 0


def test_tensor_batches_carry_the_masks_and_view_dropout_spares_them():
    import torch

    from automm.data.preprocess import Standardizer
    from automm.engine.training import TensorData, drop_views

    ds = _dataset()
    rows = ds.splits.train
    data = TensorData.from_dataset(ds, rows, Standardizer.fit(ds.views, rows, ds.masks), torch.device("cpu"))
    batch = data.batch(torch.arange(5))
    assert set(batch) == {"text/tokens", "text/tokens_mask", "image/vec"}
    assert batch["text/tokens"].shape == (5, 6, 3) and batch["text/tokens_mask"].dtype == torch.bool
    dropped = drop_views(data.batch(slice(None)), 0.5, torch.Generator().manual_seed(0))
    gone_tokens = (dropped["text/tokens"] == 0).flatten(1).all(dim=1)
    gone_vec = (dropped["image/vec"] == 0).all(dim=1)
    assert gone_tokens.any() and gone_vec.any() and not (gone_tokens & gone_vec).any()
    assert torch.equal(dropped["text/tokens_mask"], data.masks["text/tokens"])


def test_the_linear_candidate_reads_a_token_view_as_the_mean_of_its_real_tokens():
    import torch

    from automm.data.preprocess import Standardizer
    from automm.engine.linear_net import fit_linear
    from automm.engine.training import TensorData

    ds = _dataset()
    rows = ds.splits.train
    data = TensorData.from_dataset(ds, rows, Standardizer.fit(ds.views, rows, ds.masks), torch.device("cpu"))
    net = fit_linear(data, ["text/tokens", "image/vec"], "multiclass", 2, 1.0)
    assert net.linear.in_features == 7
    batch = data.batch(slice(None))
    flat = pool_tokens(batch["text/tokens"].numpy(), batch["text/tokens_mask"].numpy())
    expected = net.linear(torch.cat([torch.from_numpy(flat), batch["image/vec"]], dim=1))
    assert torch.allclose(net(batch), expected, atol=1e-5)
    assert (net(batch).argmax(1).numpy() == ds.labels[rows]).mean() > 0.9


def test_digits_tokens_are_the_digits_pixel_rows_with_the_digits_split():
    flat = automm.load_dataset("digits")
    tokens = automm.load_dataset("digits-tokens")
    assert tokens.token_lengths == {"top/rows": 4, "bottom/rows": 4} and tokens.view_dims == {
        "top/rows": 8,
        "bottom/rows": 8,
    }
    assert np.array_equal(tokens.splits.test, flat.splits.test)
    assert np.allclose(tokens.views["top/rows"].reshape(len(flat.labels), -1), flat.views["pixels/top"])
