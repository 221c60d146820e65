"""Write a benchmark's table into benchmarks/RESULTS.md, replacing its previous section."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return f"{os.cpu_count()} cores, {device}, Python {platform.python_version()}, torch {torch.__version__}"


def code_state() -> str:
    """The commit the package code comes from: HEAD, the last commit that changed ``automm/`` or
    ``studies/``, and whether those folders differ from HEAD (a dirty tree)."""
    root = RESULTS.parents[1]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:  # a copy of the tree without its git folder (another machine): the caller may name it
        given = os.environ.get("AUTOMM_COMMIT")
        if given:
            return f"commit {given} as named by AUTOMM_COMMIT (a copy without git)"
        return "code outside git (commit unknown)"
    package = git("log", "-1", "--format=%h", "--", "automm", "studies")
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "automm", "studies")
    return f"commit {head} (package code of {package}, {'DIRTY tree' if dirty else 'clean tree'})"


# taken when a benchmark imports this module, i.e. when it starts: the code its numbers come from
STARTED_AT = code_state()


def package_commit() -> str | None:
    """The last commit of the package code if the tree is clean there (AUTOMM_COMMIT in a copy without
    git), else None: rows of a run are reusable by a later run of the same package commit only."""
    state = STARTED_AT  # the code this run started with, read once
    if "DIRTY" in state or "unknown" in state:
        return None
    if "AUTOMM_COMMIT" in state:
        return state.split()[1]
    return state.split("package code of ")[1].split(",")[0]


def record(key: str, title: str, body: str) -> None:
    """Replace (or append) the section between markers ``<!-- key -->`` in RESULTS.md; it names the
    command, the date, the machine, torch's threads and the code (`STARTED_AT`)."""
    command = "python " + shlex.join(["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]])
    run = f"{date.today()}, {machine()}, {torch.get_num_threads()} torch threads in the main process, {STARTED_AT}"
    section = f"<!-- {key} -->\n## {title}\n\nCommand: `{command}`  \nRun: {run}\n\n{body.strip()}\n<!-- /{key} -->"
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\nEach section names the command that produced it.\n"
    )
    pattern = re.compile(rf"<!-- {re.escape(key)} -->.*?<!-- /{re.escape(key)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def reused_rows(
    log: Path, key: Callable[[dict[str, Any]], tuple[Any, ...] | None], wanted: set[tuple[Any, ...]], any_commit: bool
) -> list[dict[str, Any]]:
    """The JSON rows of ``log`` whose ``key`` is in ``wanted`` and that come from this package commit (any with
    ``any_commit``); a wanted row of another commit, of a dirty tree or without one ends the run."""
    here = package_commit()
    rows = []
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        if key(row) not in wanted:
            continue
        if not any_commit and (here is None or row.get("commit") != here):
            raise SystemExit(
                f"{log}: a row of package commit {row.get('commit')} (this tree: {here or 'dirty'}); "
                "commit first, or pass --any-commit"
            )
        rows.append(row)
    return rows


def run_logged(
    run_one: Callable[[Any], dict[str, Any]],
    jobs: list[tuple[Any, ...]],
    job_key: Callable[[tuple[Any, ...]], tuple[Any, ...]],
    row_key: Callable[[dict[str, Any]], tuple[Any, ...] | None],
    workers: int,
    log: Path | None = None,
    any_commit: bool = False,
) -> list[dict[str, Any]]:
    """Every job's row: those of ``log`` (this package commit's, `reused_rows`), the rest run by ``run_one``
    (a module-level function) ``workers`` at a time, each printed as it ends so that a cut-off run keeps
    what it did."""
    results = reused_rows(log, row_key, {job_key(j) for j in jobs}, any_commit) if log else []
    done = {row_key(r) for r in results}
    with mp.get_context("spawn").Pool(workers) as pool:
        for result in pool.imap_unordered(run_one, [j for j in jobs if job_key(j) not in done], chunksize=1):
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def paired(diffs: list[float]) -> tuple[float, float, float]:
    """(mean, low, high) of the 95% t-interval of paired differences (in points)."""
    from scipy import stats

    d = 100 * np.asarray(diffs, dtype=float)
    if len(d) < 2:
        return float(d.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def sign_test(diffs: list[float]) -> str:
    """Wins / losses / ties of paired differences and the two-sided sign test's p (ties dropped)."""
    from scipy import stats

    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    p = stats.binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
    return f"{wins} wins, {losses} losses, {len(diffs) - wins - losses} ties (sign test p = {p:.3f})"


def verdict(low: float, high: float) -> str:
    """A win or loss only when the 95% interval excludes 0."""
    return "win" if low > 0 else "loss" if high < 0 else "no difference shown"
