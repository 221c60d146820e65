"""Shared fixtures: small synthetic data sets, fast settings, the shared real data folder."""

from __future__ import annotations

import importlib.metadata
import signal
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from automm.data.dataset import MultimodalDataset
from automm.data.splits import make_splits
from automm.settings import SearchConfig
from tests.real_components import missing, summary, used

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

optuna.logging.set_verbosity(optuna.logging.WARNING)

# A runner that starts the suite in the background may hand it Ctrl-C ignored (a shell without job control
# does that to `cmd &`), and the searches the tests start would inherit it. The Ctrl-C tests need the
# interrupt a user's terminal delivers: Python's own handler here, so that the processes started get theirs.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def shared_file(name: str) -> Path:
    """A file from ../shared/data, or skip the test with the reason (fail it under ``CI=true``)."""
    path = SHARED_DATA / name
    if not path.exists():
        missing(f"{path} is absent (real data lives in ../shared/data beside the repository)")
    used("shared data", name)
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say what ran against real components, so a green run shows they ran."""
    terminalreporter.write_line(summary())


def make_toy(n: int = 300, seed: int = 0, task: str = "multiclass") -> MultimodalDataset:
    """Three views; the label needs two of them (each sees one of two bits)."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    labels = 2 * a + b if task == "multiclass" else np.stack([a, b, a ^ b], axis=1)
    views = {
        "left/feat": np.c_[a + 0.2 * rng.standard_normal(n), rng.standard_normal((n, 3))],
        "right/feat": np.c_[b + 0.2 * rng.standard_normal(n), rng.standard_normal((n, 2))],
        "noise/feat": rng.standard_normal((n, 4)),
    }
    split_labels = labels if task == "multiclass" else labels[:, 0]
    return MultimodalDataset(
        name="toy",
        views=views,
        labels=labels,
        task=task,
        splits=make_splits(split_labels, seed=seed),  # type: ignore[arg-type]
    )


def make_token_toy(n: int = 240, seed: int = 0) -> MultimodalDataset:
    """Two token views, one padded: the label is (is a marked token in the text) x 2 + (which half of the
    image grid holds the bright cell), so it needs the tokens' positions and the padding rule."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    lengths = rng.integers(2, 7, n)
    mask = np.arange(6)[None, :] < lengths[:, None]
    text = rng.standard_normal((n, 6, 3)).astype(np.float32)
    marked = rng.integers(0, 10**6, n) % lengths  # a real token
    text[np.arange(n)[a == 1], marked[a == 1], 0] += 3.0
    text[~mask] = 9.0  # padding holds garbage that must not count
    grid = 0.3 * rng.standard_normal((n, 4, 2)).astype(np.float32)
    cell = 2 * b + rng.integers(0, 2, n)  # cells 0-1: first half, 2-3: second half
    grid[np.arange(n), cell, 1] += 2.0
    return MultimodalDataset(
        name="tokentoy",
        views={"text/tokens": text, "image/grid": grid},
        labels=2 * a + b,
        task="multiclass",
        splits=make_splits(2 * a + b, seed=seed),
        masks={"text/tokens": mask},
    )


def token_toy_npz(path: Path, n: int = 240) -> Path:
    """`make_token_toy` as an `.npz` (token views, the text view's mask, its fixed splits)."""
    toy = make_token_toy(n=n)
    s = toy.splits
    arrays = {f"views/{k}": v for k, v in toy.views.items()} | {f"views/{k}_mask": m for k, m in toy.masks.items()}
    np.savez(path, **arrays, labels=toy.labels, train=s.train, val=s.val, test=s.test)
    return path


@pytest.fixture
def toy() -> MultimodalDataset:
    return make_toy()


@pytest.fixture
def fast_config() -> SearchConfig:
    return SearchConfig(
        folds=1, fusion_dim=16, max_views=3, dropout=0.0, lr=5e-3, batch_size=64, max_epochs=30, patience=5
    )


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the session (see `tests.postgres`); skips if none can be had."""
    from tests.postgres import running_postgres, server_programs, server_version

    why = server_programs()
    if isinstance(why, str):
        missing(why)
    with running_postgres() as url:
        used("PostgreSQL", server_version(url))
        yield url


@pytest.fixture
def postgres_url(postgres_server, request):
    """A new empty database on the session's server, one per test."""
    from tests.postgres import fresh_database

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return fresh_database(postgres_server, name)


@pytest.fixture
def s3_bucket(monkeypatch):
    """A bucket on a local S3-compatible server (moto's, in this process); (name, client, environment)."""
    try:
        import boto3
        import moto.server as server_module
    except ImportError:
        missing("boto3 and moto are not installed (pip install -e '.[dev]')")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket="automm-test")
    used("S3", f"moto {importlib.metadata.version('moto')} server over HTTP")
    yield "automm-test", client, env
    server.stop()


def toy_npz(path: Path, n: int = 600) -> Path:
    """`make_toy` written as a `.npz` with its fixed splits (for searches run as separate processes)."""
    toy = make_toy(n=n)
    s = toy.splits
    np.savez(path, **{f"views/{k}": v for k, v in toy.views.items()}, labels=toy.labels,
             train=s.train, val=s.val, test=s.test)  # fmt: skip
    return path


def small_search_command(data: Path, storage: str, runs: Path, study_name: str) -> list[str]:
    """A short KS-NAS search of ``data`` as its own process (one split, 4 x 3 generations, no export)."""
    return [
        sys.executable, "-c", "from automm.cli import app; app()", "search", "--data", str(data),
        "--storage", storage, "--study-name", study_name, "--runs-dir", str(runs), "--folds", "1",
        "--population", "4", "--generations", "3", "--kb-epochs", "1", "--no-export", "-q",
    ]  # fmt: skip
