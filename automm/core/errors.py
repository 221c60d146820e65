"""The one exception type for errors a user can cause."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


class AutommError(ValueError):
    """A problem with the user's input (path, shape, name, value, file).

    The message says what is wrong and what to do; the CLI prints it on one line
    and exits with code 2. It is a `ValueError`, as scikit-learn's and Optuna's
    argument errors are. Line breaks that come with user text (a file's names, an
    exception's message) are shown as ``\n``, so the message stays one line.
    """

    def __init__(self, message: str = "", *args: object) -> None:
        text = str(message)
        super().__init__(text.replace("\r", "\\r").replace("\n", "\\n"), *args)


_CLI: ContextVar[bool] = ContextVar("automm_cli", default=False)


def option(name: str, value: str = "") -> str:
    """How a user names argument ``name`` (with ``value``) where they are: ``--study-name`` on the
    command line, ``study_name`` in Python; with a value ``--data FILE`` / ``data=FILE`` (a ``True``
    value is a bare flag on the command line). The CLI marks its calls with `cli_names`."""
    if _CLI.get():
        flag = f"--{name.replace('_', '-')}"
        return f"{flag} {value}" if value and value != "True" else flag
    return f"{name}={value}" if value else name


@contextmanager
def cli_names() -> Iterator[None]:
    """Within this block `option` names command-line flags."""
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)
