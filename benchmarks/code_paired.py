"""One default search under two automm source trees, paired: what a code change does to a user's wall time and
to the delivered model.

For each data set and seed, the job of `knowledge_sharing` with its default variant (KS-NAS with per-fold KBs,
N x T from ``--population`` / ``--generations``, automm's fold rule, the protocol's 80/20 split, the default
delivery) runs once with the code of ``--before`` (a source checkout, e.g. ``git worktree add /tmp/before
<commit>``) and once with the code of ``--now`` (default: this checkout), each in a fresh process with one torch
thread. The two jobs of a pair are started together, ``--workers`` at a time (2: a pair runs side by side), so
both see the same load. Reported per data set: wall seconds (search + delivery) and epochs of each code, the
paired wall ratio (before / now), and the paired differences now - before of the out-of-fold score of the
delivered choice and of the delivered model's test score (the 20% never seen by the search or any choice).

With ``--log FILE`` (the printed rows of an earlier run) a job whose row is there, from the same package commit
of its tree, is not run again.

Usage: python benchmarks/code_paired.py --before /tmp/before [--now PATH] [--seeds 3] [--datasets digits cub ...]
           [--section KEY] [--title TEXT] [--data-dir DIR] [--log FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

try:
    from benchmarks._results import machine, paired, record, sign_test
except ModuleNotFoundError:  # run as a script
    from _results import machine, paired, record, sign_test  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT.parent / "shared" / "data"
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from benchmarks.knowledge_sharing import run_one
name, seed, population, generations = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(json.dumps(run_one((name, "per-fold KBs", seed, population, generations, None))))
"""


def run_job(source: Path, name: str, seed: int, population: int, generations: int, data_dir: Path) -> dict[str, Any]:
    """The row of `knowledge_sharing.run_one` for one job, run by the automm in ``source``."""
    env = {**os.environ, "PYTHONPATH": str(source), "OMP_NUM_THREADS": "1", "AUTOMM_SHARED_DATA": str(data_dir)}
    args = [str(source), name, str(seed), str(population), str(generations)]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], cwd=source, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{source} {name} seed {seed} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def tree_commit(source: Path) -> str | None:
    """The last commit of ``source``'s package code, None when that code differs from it (as `run_one` records)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=source, capture_output=True, text=True, check=False).stdout.strip()

    if git("status", "--porcelain", "--untracked-files=no", "--", "automm", "studies"):
        return None
    return git("log", "-1", "--format=%h", "--", "automm", "studies") or None


def logged_rows(log: Path, commits: dict[str, str | None]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The rows of ``log`` whose code's tree is still at the package commit they were run with."""
    rows = {}
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            if row.get("commit") is not None and row.get("commit") == commits.get(row.get("code")):
                rows[(row["code"], row["dataset"], int(row["seed"]))] = row
    return rows


def table(rows: dict[tuple[str, str, int], dict[str, Any]], datasets: list[str], seeds: int) -> str:
    lines = [
        "| data set | wall s, before / now | wall saved (paired) | epochs, before / now | wall per epoch saved "
        "(paired) | paired OOF diff (now - before) | paired test diff (now - before) |",
        "|---|---|---|---|---|---|---|",
    ]
    all_test: list[float] = []
    all_ratio: list[float] = []
    for name in datasets:
        pairs = [(rows[("before", name, s)], rows[("now", name, s)]) for s in range(seeds)]
        ratio = [b["wall"] / n["wall"] for b, n in pairs]
        per_epoch = [(b["wall"] / b["epochs"]) / (n["wall"] / n["epochs"]) for b, n in pairs]
        oof = [n["ensemble_oof"] - b["ensemble_oof"] for b, n in pairs]
        test = [n["test"] - b["test"] for b, n in pairs]
        all_test += test
        all_ratio += ratio
        mean_oof, *_ = paired(oof)
        mean_test, low, high = paired(test)
        lines.append(
            f"| {name} | {np.mean([b['wall'] for b, _ in pairs]):.1f} / {np.mean([n['wall'] for _, n in pairs]):.1f} "
            f"| {np.mean(ratio):.2f}x ± {np.std(ratio):.2f} "
            f"| {np.mean([b['epochs'] for b, _ in pairs]):.0f} / {np.mean([n['epochs'] for _, n in pairs]):.0f} "
            f"| {np.mean(per_epoch):.2f}x ± {np.std(per_epoch):.2f} | {mean_oof:+.2f} "
            f"| {mean_test:+.2f} [{low:+.2f}, {high:+.2f}] |"
        )
    mean, low, high = paired(all_test)
    lines += [
        "",
        f"Over all {len(all_test)} pairs: wall saved {np.mean(all_ratio):.2f}x (geometric mean "
        f"{float(np.exp(np.mean(np.log(all_ratio)))):.2f}x, range {min(all_ratio):.2f}x-{max(all_ratio):.2f}x); "
        f"test now - before {mean:+.2f} points [{low:+.2f}, {high:+.2f}], {sign_test(all_test)}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a source checkout of the earlier automm")
    parser.add_argument("--now", type=Path, default=ROOT, help="a source checkout of the later automm")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["digits", "handwritten", "cub", "avmnist", "bbcsport", "3sources", "webkb", "20news"],
    )
    parser.add_argument("--population", type=int, default=6)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--section", default="code-paired", help="the RESULTS.md section to write")
    parser.add_argument("--title", default="One default search under two automm versions, paired")
    parser.add_argument("--log", type=Path, help="the printed rows of an earlier run: jobs found there are not rerun")
    args = parser.parse_args()
    sources = {"before": args.before.resolve(), "now": args.now.resolve()}
    jobs = [(code, name, seed) for name in args.datasets for seed in range(args.seeds) for code in sources]
    rows = logged_rows(args.log, {code: tree_commit(src) for code, src in sources.items()}) if args.log else {}
    with ThreadPoolExecutor(args.workers) as pool:
        futures = {
            job: pool.submit(
                run_job, sources[job[0]], job[1], job[2], args.population, args.generations, args.data_dir.resolve()
            )
            for job in jobs
            if job not in rows
        }
        for job, future in futures.items():
            rows[job] = future.result()
            print(json.dumps({"code": job[0], **rows[job]}), flush=True)
    body = table(rows, args.datasets, args.seeds)
    commits = {code: sorted({str(rows[j].get("commit")) for j in rows if j[0] == code}) for code in sources}
    note = (
        f"{args.seeds} seeds, N = {args.population}, T = {args.generations}, KS-NAS with per-fold KBs, automm's fold "
        "rule, the default delivery (the job of `knowledge_sharing.py`'s default variant). Wall = search + delivery "
        "of one job in its own process with one torch thread; the two jobs of a pair ran side by side. "
        f"Code before: {', '.join(commits['before'])} ({sources['before']}); now: {', '.join(commits['now'])}. "
        f"Machine: {machine()}."
    )
    print(body + "\n\n" + note)
    record(args.section, args.title, body + "\n\n" + note)


if __name__ == "__main__":
    main()
