"""The one exception type for errors a user can cause."""

from __future__ import annotations


class AutommError(ValueError):
    """A problem with the user's input (path, shape, name, value, file).

    The message says what is wrong and what to do; the CLI prints it on one line
    and exits with code 2. It is a `ValueError`, as scikit-learn's and Optuna's
    argument errors are.
    """
