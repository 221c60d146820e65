"""The Typer application, its consoles, and how user errors and Ctrl-C end a command."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from automm.core.errors import AutommError, cli_names
from automm.core.log import get_verbosity, set_verbosity
from automm.core.progress import listening

app = typer.Typer(
    help="Search multimodal fusion architectures with Optuna.", no_args_is_help=True, pretty_exceptions_enable=False
)
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


BAR_COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


class StepBars:
    """Shows each long step (`automm.core.progress.step`) as a bar: in the command's own live `progress`
    when it has one (``automm search``), else in a transient display of its own."""

    def __init__(self) -> None:
        self.progress: Progress | None = None  # the command's live display, if any
        self.quiet = False  # --quiet: nothing
        self._own: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        if self.quiet:
            return
        progress = self.progress
        if progress is None and not out.is_terminal:  # piped: a line per step, no bar
            if done == 0:
                out.print(f"{what} ...", highlight=False)
            return
        if progress is None:
            if self._own is None:
                self._own = Progress(*BAR_COLUMNS, console=out, transient=True)
                self._own.start()
            progress = self._own
        if what not in self._tasks:
            self._tasks[what] = progress.add_task(what, total=total)
        progress.update(self._tasks[what], completed=done, total=total)
        if done >= total:
            progress.remove_task(self._tasks.pop(what))
            if progress is self._own and not self._tasks:
                self.close()

    def close(self) -> None:
        if self._own is not None:
            self._own.stop()
            self._own = None
        self._tasks.clear()
        self.quiet = False


steps = StepBars()


def user_errors(func: F, interrupted: str = "finished trials are saved") -> F:
    """Turn `AutommError` into a one-line message and exit code 2; Ctrl-C into exit 130. Long steps
    show bars (`steps`); automm's log is quiet (the command prints what it has to say)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        level = get_verbosity()
        set_verbosity(logging.WARNING)
        try:
            with cli_names(), listening(steps):
                return func(*args, **kwargs)
        except AutommError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print(f"interrupted: {interrupted}; run the same command again to resume")
            raise typer.Exit(130) from None
        finally:
            steps.close()
            set_verbosity(level)

    return wrapper  # type: ignore[return-value]
