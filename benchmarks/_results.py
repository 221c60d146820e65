"""Write a benchmark's table into benchmarks/RESULTS.md, replacing its previous section."""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path

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
