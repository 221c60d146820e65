"""Property-based fuzzing of every loader of users' data: a dataset that keeps its promises, or one
`AutommError` line; never another exception, a hang or a silently wrong dataset.

Each test runs its examples (a hypothesis case, ``_..._cases``), counting what they gave (``OUTCOMES``,
reset first, so test order does not matter), then checks that both outcomes occurred, so a generator that
only ever makes broken (or only valid) inputs fails the test instead of passing it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from automm.core.errors import AutommError
from automm.data.dataset import MultimodalDataset
from automm.data.matfile import load_mat
from automm.data.mmimdb import GENRES, HDF5_FILE, VIEWS, load_mmimdb_hdf5
from automm.data.npzfile import load_npy_folder, load_npz
from automm.extract.manifest import Manifest, read_manifest

FUZZ = settings(  # derandomized: CI runs the same cases every time (AUTOMM_FUZZ_EXAMPLES for more)
    max_examples=int(os.environ.get("AUTOMM_FUZZ_EXAMPLES", "60")),
    derandomize=os.environ.get("AUTOMM_FUZZ_EXAMPLES") is None,
    database=None,
    deadline=20_000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
OUTCOMES: Counter[str] = Counter()
REASONS: dict[str, Counter[str]] = {}

DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.uint8, np.bool_, np.dtype("U3")])
ANY_ARRAY = hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=12))


def outcome(load: Callable[[], Any], kind: str) -> Any:
    """Run a loader: a dataset is checked for its promises; an error must be one `AutommError` line."""
    REASONS.setdefault(kind, Counter())
    try:
        result = load()
    except AutommError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        OUTCOMES[f"{kind}: refused"] += 1
        REASONS[kind][message.split(": ")[-1][:60]] += 1
        return None
    OUTCOMES[f"{kind}: loaded"] += 1
    if isinstance(result, MultimodalDataset):
        _check_dataset(result)
    return result


def _check_dataset(ds: MultimodalDataset) -> None:
    n = ds.n_samples
    assert n >= 1 and all(v.shape[0] == n and v.shape[1] > 0 for v in ds.views.values())
    assert all(np.isfinite(v).all() for v in ds.views.values())
    parts = [np.asarray(p) for p in (ds.splits.train, ds.splits.val, ds.splits.test)]
    assert parts[0].size and parts[1].size
    joined = np.concatenate(parts)
    assert np.unique(joined).size == joined.size and joined.min() >= 0 and joined.max() < n
    if ds.task == "multiclass":
        assert ds.labels.min() >= 0 and ds.labels.max() < ds.n_classes
    else:
        assert ds.labels.shape == (n, ds.n_classes)


def _both_outcomes(kind: str) -> None:
    assert OUTCOMES[f"{kind}: loaded"] and OUTCOMES[f"{kind}: refused"], (dict(OUTCOMES), REASONS.get(kind))


# -- plausible data sets, then broken in one or more ways ------------------------------------------
@st.composite
def layouts(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """The .npz layout's keys: mostly well-formed, with random damage."""
    n = draw(st.one_of(st.integers(12, 40), st.integers(0, 12)))
    n_classes = draw(st.integers(1, 4))
    arrays: dict[str, np.ndarray] = {}
    for i in range(draw(st.sampled_from([1, 1, 2, 3, 0]))):
        width = draw(st.sampled_from([3, 2, 1, 0]))
        arrays[f"views/m{i}/f"] = draw(hnp.arrays(np.float32, (n, width), elements=st.floats(-3, 3, width=32)))
    labels = np.arange(n) % n_classes
    if draw(st.integers(0, 2)) == 0:
        labels = draw(st.sampled_from([labels.astype(str), labels + 0.5, labels.reshape(-1, 1), -labels]))
    arrays["labels"] = labels
    if draw(st.booleans()):
        order = np.random.default_rng(draw(st.integers(0, 9))).permutation(n)
        cut = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
        arrays.update({"train": order[: cut[0]], "val": order[cut[0] : cut[1]], "test": order[cut[1] :]})
        if draw(st.booleans()):
            arrays[draw(st.sampled_from(["train", "val", "test"]))] = draw(ANY_ARRAY)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # damage: any key replaced by any array
        key = draw(st.sampled_from(["labels", "class_names", "views/m0/f", "views/x", "train", "test"]))
        arrays[key] = draw(ANY_ARRAY)
    return arrays


def _given_splits_honoured(ds: MultimodalDataset, arrays: dict[str, np.ndarray]) -> None:
    if all(k in arrays for k in ("train", "val", "test")):
        for part in ("train", "val", "test"):
            assert set(np.asarray(getattr(ds.splits, part)).tolist()) == set(np.asarray(arrays[part]).tolist())


@FUZZ
@given(arrays=layouts())
def _npz_cases(arrays):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        np.savez(path, **arrays)
        ds = outcome(lambda: load_npz(path), "npz")
        if ds is not None:
            _given_splits_honoured(ds, arrays)


@FUZZ
@given(arrays=layouts())
def _npy_folder_cases(arrays):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "d"
        for key, value in arrays.items():
            (folder / key).parent.mkdir(parents=True, exist_ok=True)
            np.save(folder / f"{key}.npy", value)
        folder.mkdir(exist_ok=True)
        ds = outcome(lambda: load_npy_folder(folder), "npy folder")
        if ds is not None:
            _given_splits_honoured(ds, arrays)


@FUZZ
@given(arrays=layouts(), transpose=st.booleans(), split=st.integers(0, 3), base=st.integers(0, 1))
def _mat_cases(arrays, transpose, split, base):
    views = [v for k, v in arrays.items() if k.startswith("views/")]
    mat: dict[str, Any] = {"Y": arrays["labels"]}
    if views:
        cell = np.empty((1, len(views)), dtype=object)
        for i, v in enumerate(views):
            cell[0, i] = v.T if transpose else v
        mat["X"] = cell
    if split and "train" in arrays and "test" in arrays:
        shifted = [a + base if a.dtype.kind in "iuf" else a for a in (arrays["train"], arrays["test"])]
        mat["train"], mat["test"] = shifted
    if split == 2 and "train" in mat:
        del mat["train"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.mat"
        try:
            scipy.io.savemat(path, mat)
        except Exception:  # scipy cannot write it: nothing to load
            return
        outcome(lambda: load_mat(path), "mat")


# -- valid files with bytes changed or cut ---------------------------------------------------------
def _valid_bytes(kind: str) -> bytes:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 3)).astype(np.float32), np.arange(30) % 3
    buffer = io.BytesIO()
    if kind == "npz":
        np.savez(buffer, **{"views/a/x": x, "views/b/y": x[:, :2], "labels": y})
    else:
        cell = np.empty((1, 2), dtype=object)
        cell[0, 0], cell[0, 1] = x, x[:, :2]
        scipy.io.savemat(buffer, {"X": cell, "Y": y})
    return buffer.getvalue()


VALID = {kind: _valid_bytes(kind) for kind in ("npz", "mat")}


@FUZZ
@given(
    kind=st.sampled_from(["npz", "mat"]),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def _damaged_file_cases(kind, edits, cut):
    data = bytearray(VALID[kind])
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    load = load_npz if kind == "npz" else load_mat
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"d.{kind}"
        path.write_bytes(bytes(data))
        ds = outcome(lambda: load(path), f"damaged {kind}")
    if ds is not None and kind == "npz":  # zip checksums: whatever loads is the original data
        original = load_npz_bytes(VALID["npz"])
        assert all(np.array_equal(ds.views[k], v) for k, v in original.views.items())
        assert np.array_equal(ds.labels, original.labels)


def load_npz_bytes(data: bytes) -> MultimodalDataset:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        path.write_bytes(data)
        return load_npz(path)


# -- HDF5 (the MM-IMDB release's layout) -------------------------------------------------------------
@FUZZ
@given(
    n=st.integers(0, 60),
    keys=st.one_of(st.just({*VIEWS.values(), "genres"}), st.sets(st.sampled_from([*VIEWS.values(), "genres"]))),
    genre_columns=st.sampled_from([len(GENRES), len(GENRES), 3]),  # a valid file often enough to load
    split=st.one_of(
        st.none(),
        st.just("valid"),
        st.just("valid"),
        st.lists(st.integers(-2, 35), min_size=6, max_size=6),
    ),
    names=st.sampled_from(
        [("train", "dev", "test"), ("train", "dev", "test"), ("train", "val", "test"), ("train", "oops", "test")]
    ),
)
def _hdf5_cases(n, keys, genre_columns, split, names):
    rng = np.random.default_rng(n)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with h5py.File(folder / HDF5_FILE, "w") as f:
            for key in keys:
                f[key] = (
                    (rng.random((n, genre_columns)) > 0.5).astype(np.int8)
                    if key == "genres"
                    else rng.standard_normal((n, 4)).astype(np.float32)
                )
            if split == "valid":
                split = [0, n // 2, n // 2, 3 * n // 4, 3 * n // 4, n]
            if split is not None:
                kind = np.dtype([("split", "S8"), ("source", "S8"), ("start", "i8"), ("stop", "i8")])
                rows = [(name.encode(), b"x", split[2 * i], split[2 * i + 1]) for i, name in enumerate(names)]
                f.attrs["split"] = np.array(rows, dtype=kind)
        outcome(lambda: load_mmimdb_hdf5(folder), "hdf5")


# -- manifests (CSV and JSON Lines) ------------------------------------------------------------------
CELLS = st.one_of(st.text(max_size=6), st.sampled_from(["train", "val", "test", "a", "b", "a|b", "x.png", ""]))


@FUZZ
@given(
    columns=st.lists(
        st.sampled_from(["label", "labels", "text:plot", "image:poster", "split", "id", "text:", "text:a b"]),
        min_size=1,
        max_size=5,
        unique=True,
    ),
    rows=st.lists(st.lists(CELLS, min_size=5, max_size=5), min_size=0, max_size=12),
    as_json=st.booleans(),
)
def _manifest_cases(columns, rows, as_json):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "x.png").write_bytes(b"not an image, but a file")
        path = folder / ("m.jsonl" if as_json else "m.csv")
        records = [dict(zip(columns, row, strict=False)) for row in rows]
        if as_json:
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        else:
            with open(path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(records)
        manifest = outcome(lambda: read_manifest(path), "manifest")
        if manifest is not None:
            assert isinstance(manifest, Manifest) and len(manifest) == len(rows)


# -- the tests: each runs its cases and checks that they reached both outcomes -----------------------
FUZZ_TESTS = {  # test name -> (cases, the kinds it counts)
    "npz": (_npz_cases, ["npz"]),
    "npy folder": (_npy_folder_cases, ["npy folder"]),
    "mat": (_mat_cases, ["mat"]),
    "damaged files": (_damaged_file_cases, ["damaged npz", "damaged mat"]),
    "hdf5": (_hdf5_cases, ["hdf5"]),
    "manifest": (_manifest_cases, ["manifest"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FUZZ_TESTS))
def test_fuzz_reaches_both_outcomes(name):
    cases, kinds = FUZZ_TESTS[name]
    for kind in kinds:
        OUTCOMES.pop(f"{kind}: loaded", None)
        OUTCOMES.pop(f"{kind}: refused", None)
        REASONS.pop(kind, None)
    cases()
    for kind in kinds:
        _both_outcomes(kind)
