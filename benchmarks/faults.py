"""Killed workers, counted: trials killed, retried, lost and duplicated per storage.

For each storage (journal file, SQLite, a throwaway PostgreSQL server): a KS-NAS search on a synthetic
3-view data set (N=4, T=3, one split) is started with ``automm search``, killed with SIGKILL while a
trial runs, ``--kills`` times, each time after the grace period started again with the same command;
then the same command runs it to the end. Counted from the storage afterwards:

- killed: trials failed because their worker died; retried: their WAITING copies;
- lost: killed candidates never completed by a retry; left running or waiting: trials not finished;
- duplicated: a candidate completed twice within one generation (a double run).

Usage: python benchmarks/faults.py [--kills 3] [--storages journal,sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from automm.methods.ksnas.sampler import trial_generation  # noqa: E402
from automm.store.liveness import HEARTBEAT_ENV, retried_from  # noqa: E402
from automm.store.storages import open_storage  # noqa: E402
from benchmarks._results import record  # noqa: E402
from tests.conftest import small_search_command, toy_npz  # noqa: E402

HEARTBEAT = 1  # seconds; the grace period is three


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", HEARTBEAT_ENV: str(HEARTBEAT)}


def load(storage: str) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name="faults", storage=open_storage(storage))
    except Exception:  # not created yet
        return None


def kill_mid_trial(cmd: list[str], storage: str) -> bool:
    """Start the search, SIGKILL it while a trial runs its candidate; False if it finished first."""
    proc = subprocess.Popen(cmd, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    seen = {t.number for t in (load(storage).trials if load(storage) else [])}
    while proc.poll() is None:
        time.sleep(0.02)
        study = load(storage)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if study else []
        if any(t.number not in seen and "genotype" in t.user_attrs for t in running):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
    return False


def count(storage: str) -> dict[str, int]:
    study = load(storage)
    assert study is not None
    trials = study.get_trials(deepcopy=False)
    retries = [t for t in trials if retried_from(t) is not None]
    killed = {t.number for t in trials if t.state == TrialState.FAIL}
    redone = {n for t in retries if t.state == TrialState.COMPLETE for n in t.system_attrs["retry_history"]}
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    per_generation = Counter((trial_generation(t), t.user_attrs["genotype"]) for t in complete)
    return {
        "killed": len(killed),
        "retried": len(retries),
        "lost": len(killed - redone),
        "left running or waiting": sum(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials),
        "duplicated": sum(n - 1 for n in per_generation.values()),
        "completed": len(complete),
    }


@contextlib.contextmanager
def storages(kinds: list[str], tmp: Path) -> Iterator[dict[str, str]]:
    urls = {"journal": f"journal:{tmp / 'j.log'}", "sqlite": f"sqlite:///{tmp / 'f.db'}"}
    if "postgresql" not in kinds:
        yield {k: urls[k] for k in kinds}
        return
    from tests.postgres import fresh_database, running_postgres, server_programs

    if isinstance(server_programs(), str):
        print("no PostgreSQL server: its row is skipped", flush=True)
        yield {k: urls[k] for k in kinds if k != "postgresql"}
        return
    with running_postgres() as server:
        urls["postgresql"] = fresh_database(server, "faults")
        yield {k: urls[k] for k in kinds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--storages", default="journal,sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = toy_npz(tmp / "toy.npz")
        with storages(args.storages.split(","), tmp) as urls:
            for kind, url in urls.items():
                cmd = small_search_command(data, url, tmp / f"runs_{kind}", "faults")
                kills = 0
                for _ in range(args.kills):
                    kills += kill_mid_trial(cmd, url)
                    time.sleep(3 * HEARTBEAT + 0.5)  # the grace period
                finished = subprocess.run(cmd, env=environment(), capture_output=True, text=True, cwd=ROOT)
                result = {"kill -9 sent": kills, "exit code": finished.returncode, **count(url)}
                print(kind, result, flush=True)
                rows.append((kind, result))
    keys = list(rows[0][1]) if rows else []
    lines = [
        f"KS-NAS (N=4, T=3, one split) on a synthetic 3-view data set; {args.kills} kills per storage while a "
        f"trial runs, each followed by the same command after the grace period ({HEARTBEAT} s heartbeat), then "
        "the same command to the end.",
        "",
        "| storage | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    lines += [f"| {kind} | " + " | ".join(str(r[k]) for k in keys) + " |" for kind, r in rows]
    body = "\n".join(lines)
    print(body)
    record("faults", "Killed workers: trials killed, retried, lost and duplicated", body)


if __name__ == "__main__":
    main()
