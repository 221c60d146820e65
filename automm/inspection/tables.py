"""Column specs shared by the terminal, the dashboard note and the HTML report (one spec per table)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[dict[str, Any]], str]


GENERATION_COLUMNS = (
    Column("gen", lambda r: str(r["generation"])),
    Column("trials", lambda r: str(r["trials"])),
    Column("best", lambda r: f"{r['best']:.4f}"),
    Column("mean", lambda r: f"{r['mean']:.4f}"),
    Column("epochs/individual", lambda r: f"{r['epochs_mean']:.1f}"),
    Column("train s", lambda r: f"{r['seconds']:.1f}"),
)


def generation_columns(report: list[dict[str, Any]]) -> tuple[Column, ...]:
    """`GENERATION_COLUMNS` and the method's own cells of a `generation_report` (its ``extra``)."""
    extra = list(dict.fromkeys(h for r in report for h in r.get("extra", {})))
    return GENERATION_COLUMNS + tuple(Column(h, lambda r, h=h: r.get("extra", {}).get(h, "-")) for h in extra)


def cells(columns: tuple[Column, ...], rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(headers, formatted rows) of ``rows`` under ``columns``."""
    return [c.header for c in columns], [[c.cell(r) for c in columns] for r in rows]


def markdown(columns: tuple[Column, ...], rows: list[dict[str, Any]]) -> list[str]:
    """A Markdown table's lines."""
    headers, body = cells(columns, rows)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(row) + " |" for row in body]


def breakable(genotype: str) -> str:
    """A genotype string that wraps between names, never inside one: a space after each comma and
    around each ``>`` (every automm parser reads it back)."""
    return re.sub(r"\s*>\s*", " > ", re.sub(r",(?=\S)", ", ", genotype))
