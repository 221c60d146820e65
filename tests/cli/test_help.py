"""`automm search --help` at 80 columns: the options in their panels, in order, names whole."""

from __future__ import annotations

import re

import pytest
import typer.rich_utils
from typer.testing import CliRunner

from automm.cli import app
from automm.cli.search import PANELS, method_options

# typer gives a flag's two names and its type 47 of the 76 columns and shares the rest with the help text,
# so this pair of names (41 characters) is cut at 80 columns; it shows whole from 84 on
TOO_LONG_AT_80 = {"--no-knowledge-sharing"}


def _help(columns: int) -> str:
    with pytest.MonkeyPatch.context() as patch:  # typer reads TERMINAL_WIDTH once, at import
        patch.setattr(typer.rich_utils, "MAX_WIDTH", columns)
        result = CliRunner().invoke(app, ["search", "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_search_help_groups_the_options_in_panels_in_order():
    text = _help(80)
    assert max(len(line) for line in text.splitlines()) <= 80
    titles = re.findall(r"╭─ (.+?) ─", text)
    methods = [t for t in titles if "--method" in t]
    assert titles[1 : 1 + len(PANELS)] == list(PANELS) and len(methods) >= 4
    for panel, names in PANELS.items():  # each common option sits in its own panel
        block = text.split(f"╭─ {panel} ")[1].split("╰")[0]
        for name in names:
            assert "--" + name.replace("_", "-") in block, (panel, name)


def test_every_option_name_is_whole_at_80_columns():
    text = _help(80)
    flags = [f for option, _ in method_options().values() for flag in option.flags for f in flag.split("/")]
    flags += ["--time-budget", "--ensemble-size", "--artifact-dir", "--minimize-params", "--model-dir"]
    for flag in flags:
        if flag not in TOO_LONG_AT_80:
            assert re.search(rf"{re.escape(flag)}(?![\w-])", text), flag
    assert all(re.search(rf"{re.escape(f)}(?![\w-])", _help(84)) for f in TOO_LONG_AT_80)
