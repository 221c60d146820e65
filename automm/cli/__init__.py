"""The ``automm`` command line (Typer): `app` with the search, extract and study commands."""

from automm.cli import extract, search, studies
from automm.cli.app import app

__all__ = ["app", "extract", "search", "studies"]
