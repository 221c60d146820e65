"""What the suite ran against for real (servers, shared data, backbones), for its summary line, and
the rule for a missing one: outside CI the test is skipped with the reason; under ``CI=true`` it fails,
since CI promises to run them."""

from __future__ import annotations

import os

import pytest

USED: dict[str, set[str]] = {}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """Skip (or, under ``CI=true``, fail) the running test: a real component it needs is absent."""
    if in_ci():
        pytest.fail(f"CI=true and a real component is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def used(kind: str, what: str) -> None:
    """Note that a test ran against ``what``, a real component of ``kind``."""
    USED.setdefault(kind, set()).add(what)


def summary() -> str:
    """One line: each kind of real component and what of it ran (or 'none')."""
    kinds = ("PostgreSQL", "S3", "dashboard over HTTP", "shared data", "backbones")
    parts = []
    for kind in kinds:
        found = sorted(USED.get(kind, ()))
        shown = ", ".join(found[:4]) + (f" (+{len(found) - 4})" if len(found) > 4 else "")
        parts.append(f"{kind}: {shown or 'none'}")
    return "real components: " + "; ".join(parts)
