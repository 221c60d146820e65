"""Write a benchmark's table into benchmarks/RESULTS.md, replacing its previous section."""

from __future__ import annotations

import platform
import re
import shlex
import sys
from datetime import date
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    import os

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return f"{os.cpu_count()} cores, {device}, Python {platform.python_version()}, torch {torch.__version__}"


def record(key: str, title: str, body: str) -> None:
    """Replace (or append) the section between markers ``<!-- key -->`` in RESULTS.md."""
    command = "python " + shlex.join(["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]])
    section = (
        f"<!-- {key} -->\n## {title}\n\nCommand: `{command}`  \nRun: {date.today()}, {machine()}\n\n{body.strip()}\n"
        f"<!-- /{key} -->"
    )
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\nEach section names the command that produced it.\n"
    )
    pattern = re.compile(rf"<!-- {re.escape(key)} -->.*?<!-- /{re.escape(key)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)
