"""The ``automm`` command line (Typer): `app` with the search, extract, study and predict commands."""

from automm.cli import extract, predict, search, studies
from automm.cli.app import app

__all__ = ["app", "extract", "predict", "search", "studies"]
