"""The Typer application, its consoles, and how user errors and Ctrl-C end a command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from automm.errors import AutommError

app = typer.Typer(
    help="Search multimodal fusion architectures with Optuna.", no_args_is_help=True, pretty_exceptions_enable=False
)
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F, interrupted: str = "finished trials are saved") -> F:
    """Turn `AutommError` into a one-line message and exit code 2; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AutommError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print(f"interrupted: {interrupted}; run the same command again to resume")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
