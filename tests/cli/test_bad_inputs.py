"""Inputs a user gets wrong: one `error:` line and exit 2 from the CLI, no empty study file left behind."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

import automm
from automm import settings
from automm.cli import app
from automm.core.errors import AutommError

RNG = np.random.default_rng(0)
X, Y = RNG.standard_normal((40, 3)), np.arange(40) % 2


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _cell(*views: np.ndarray) -> np.ndarray:
    cell = np.empty((1, len(views)), dtype=object)
    for i, v in enumerate(views):
        cell[0, i] = v
    return cell


def _huge_header(path: Path) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(4))
    raw = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("views/a/x.npy", raw.replace(b"(4,)", b"(1000000000000000,)"))
        archive.writestr("labels.npy", raw)
    return path


def _loop(path: Path) -> Path:
    os.symlink(path, path)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mat(path: Path, **content: object) -> Path:
    scipy.io.savemat(path, content)
    return path


CASES = {  # name -> (make the file in a folder, what the error says)
    "one row": (lambda d: _npz(d / "one.npz", **{"views/a/x": X[:1], "labels": Y[:1]}), "1 samples are too few"),
    "empty view": (lambda d: _npz(d / "e.npz", **{"views/a/x": X[:, :0], "labels": Y}), "has zero width"),
    "no rows": (lambda d: _npz(d / "r.npz", **{"views/a/x": X[:0], "labels": Y[:0]}), "labels are empty"),
    "too few class names": (
        lambda d: _npz(
            d / "c.npz", **{"views/a/x": X, "labels": np.arange(40) % 3, "class_names": np.array(["a", "b"])}
        ),
        "2 class names for labels with 3 classes",
    ),
    "declared 10^15 elements": (lambda d: _huge_header(d / "h.npz"), "declares shape (1000000000000000,)"),
    "0-byte .npz": (lambda d: _write(d / "z.npz", b""), "not a .npz file"),
    "random bytes .npz": (lambda d: _write(d / "b.npz", bytes(range(256)) * 3), "not a .npz file (not a zip"),
    "random bytes .mat": (lambda d: _write(d / "b.mat", bytes(range(256)) * 3), "not a readable .mat file"),
    "symlink loop": (lambda d: _loop(d / "loop.npz"), "a loop of symbolic links"),
    "FIFO": (lambda d: _fifo(d / "f.npz"), "not a regular file (a FIFO"),
    ".mat train and test overlap": (
        lambda d: _mat(d / "o.mat", X=_cell(X, X), Y=Y, train=np.arange(1, 31), test=np.arange(20, 41)),
        "the train and test splits share 11 samples",
    ),
    ".mat fractional indices": (
        lambda d: _mat(d / "n.mat", X=_cell(X, X), Y=Y, train=np.arange(1, 31) + 0.5, test=np.arange(31, 41) + 0.5),
        "must hold whole numbers",
    ),
    ".mat train without test": (
        lambda d: _mat(d / "t.mat", X=_cell(X, X), Y=Y, train=np.arange(1, 31)),
        "train and test come together",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_is_one_line_and_leaves_nothing(tmp_path, case):
    make, says = CASES[case]
    data, runs = tmp_path / "data", tmp_path / "runs"
    data.mkdir()
    path = make(data)
    result = CliRunner().invoke(app, ["search", "--data", str(path), "--runs-dir", str(runs), "--no-export", "-q"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.output
    assert not list(runs.glob("*")) if runs.exists() else True  # no empty study file, no artifact folder


def test_string_labels_and_odd_file_names_are_read(tmp_path):
    labels = np.array(["cat", "dog"] * 20)
    ds = automm.load_dataset(data=_npz(tmp_path / "s.npz", **{"views/a/x": X, "labels": labels}))
    assert ds.class_names == ["cat", "dog"] and ds.labels[:2].tolist() == [0, 1]
    mat = automm.load_dataset(data=_mat(tmp_path / "s.mat", X=_cell(X, X), Y=labels))
    assert mat.class_names == ["cat", "dog"]
    odd = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9 data.npz"))  # not UTF-8, with a space
    _npz(odd, **{"views/a/x": X, "labels": Y})
    study = automm.Study(data=odd, runs_dir=tmp_path / "runs")
    assert study.study_name == "caf_data" and (tmp_path / "runs" / "caf_data.db").exists()


def test_a_mat_train_split_is_honoured(tmp_path):
    path = _mat(tmp_path / "t.mat", X=_cell(X, X), Y=Y, train=np.arange(1, 21), test=np.arange(31, 41))
    ds = automm.load_dataset(data=path)
    assert set(ds.splits.test) == set(range(30, 40))
    assert set(ds.splits.train) | set(ds.splits.val) == set(range(20))  # rows 21..30 are in no split


@pytest.mark.parametrize(
    "args, says",
    [
        (["--trials", "0"], "--trials must be at least 1"),
        (["--trials", "-3"], "--trials must be at least 1"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--time-budget", "-5m"], "cannot read the duration '-5m'"),
        (["--time-budget", "soon"], "cannot read the duration 'soon'"),
        (["--method", "nope"], "unknown"),
        (["--pruner", "nope"], "unknown pruner"),
        (["--tune", "nope"], "nope"),
        (["--dataset", "../../etc/x"], "unknown data set"),
        (["--study-name", "../outside"], "cannot name a file"),
        (["--views", "a/x"], "1 view names given for 5 views"),
    ],
)
def test_bad_flags_are_one_line(tmp_path, args, says):
    result = CliRunner().invoke(app, ["search", *args, "--runs-dir", str(tmp_path), "--no-export", "-q"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and says in result.output and len(result.output.splitlines()) == 1
    assert not list(tmp_path.glob("*.db"))


def test_presets_are_checked_by_type_and_name(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "studies_dir", lambda: tmp_path)
    (tmp_path / "bad.toml").write_text("[ksnas]\npopulation_size = 2.5\n")
    (tmp_path / "trials.toml").write_text("trials = 2.5\n")
    (tmp_path.parent / "outside.toml").write_text("trials = 3\n")
    with pytest.raises(AutommError, match=r"trials = 2\.5 must be a whole number"):
        settings.load_preset("trials")
    with pytest.raises(AutommError, match=r"population_size = 2\.5 has the wrong type; expected int"):
        automm.Study(data=_npz(tmp_path / "bad.npz", **{"views/a/x": X, "labels": Y}), runs_dir=tmp_path / "r")
    assert not settings.has_preset("../outside")  # a name, never a path out of studies/
