"""Opening storages: several workers creating one new database at once all get it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPEN = textwrap.dedent(
    """
    import sys, optuna
    from automm.store.storages import open_storage
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(storage=open_storage(sys.argv[1]), study_name="s", load_if_exists=True)
    print("opened")
    """
)


@pytest.mark.slow
def test_workers_creating_one_new_sqlite_file_at_once_all_open_it(tmp_path):
    for round_ in range(5):  # the schema race hit about one round in three before the fix
        url = f"sqlite:///{tmp_path / f'new{round_}.db'}"
        procs = [
            subprocess.Popen([sys.executable, "-c", OPEN, url], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
            for _ in range(3)
        ]  # fmt: skip
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0 and "opened" in out, out


def test_ctrl_c_waits_until_a_journal_append_is_whole(tmp_path, monkeypatch):
    import os
    import signal

    import optuna

    from automm.store.storages import WholeAppends

    backend = WholeAppends(str(tmp_path / "j.log"))
    real = optuna.storages.journal.JournalFileBackend.append_logs
    seen = []

    def interrupted_midway(self, logs):  # Ctrl-C arrives while the append holds the file lock
        os.kill(os.getpid(), signal.SIGINT)
        seen.append("after the signal")
        real(self, logs)
        seen.append("appended")

    monkeypatch.setattr(optuna.storages.journal.JournalFileBackend, "append_logs", interrupted_midway)
    with pytest.raises(KeyboardInterrupt):
        backend.append_logs([{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}])
    assert seen == ["after the signal", "appended"]  # the append finished, then the interrupt was raised
    monkeypatch.undo()
    assert len(list(WholeAppends(str(tmp_path / "j.log")).read_logs(0))) == 1
    assert not list(tmp_path.glob("*.lock*"))  # no lock left behind
