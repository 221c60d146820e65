"""`automm export` killed with SIGKILL at any moment: the model folder is whole or absent, never half
written, and running the command again delivers it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import automm
from tests.conftest import small_search_command, toy_npz

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _export_command(storage: str, runs: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-c", "from automm.cli import app; app()", "export", "--study", "killed",
        "--storage", storage, "--runs-dir", str(runs), "--out", str(out), "--overwrite", "--ensemble-size", "2",
    ]  # fmt: skip


def _staging(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.") and p.name.endswith(".staging")]


@pytest.mark.slow
def test_kill_9_during_export_leaves_the_folder_whole_or_absent_and_a_rerun_delivers(tmp_path):
    storage = f"sqlite:///{tmp_path / 'k.db'}"
    search = small_search_command(toy_npz(tmp_path / "toy.npz"), storage, tmp_path, "killed")
    done = subprocess.run(search, env=_env(), capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "model"
    for delay in (0.0, 0.3, 0.8, 1.5):  # after the staging folder appears: while files are written and checked
        proc = subprocess.Popen(
            _export_command(storage, tmp_path, out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.time() + 120
        while not _staging(out) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "the export ended before the kill: it was not tested"
        if out.exists():  # whole: every file there, each matching the manifest's sha256
            automm.load_model(out)
    again = subprocess.run(
        _export_command(storage, tmp_path, out), env=_env(), capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert again.returncode == 0, again.stdout + again.stderr
    model = automm.load_model(out)
    assert model.meta["study"] == "killed"
