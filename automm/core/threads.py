"""How many CPU threads torch's intra-op pool gets during a search.

Small fusion networks do not get faster with more than one thread (a batch is too little work to
split), but they get much slower when several processes' thread pools fight over the same cores
(measured: 0.6 s to 15 s per epoch). So the rule (`choose_threads`, measured in
``benchmarks/threads_and_jobs.py``) is: an explicit request wins; ``OMP_NUM_THREADS`` or
``MKL_NUM_THREADS`` set by the user wins next (torch's own choice is kept); otherwise one thread per
job for networks whose work per batch is below `SMALL_WORK`, and the job's share of the cores
above it. On a GPU the threads only feed the device, so the same rule holds.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from automm.core.errors import AutommError, option

# multiply-accumulates per training batch of the widest network the space holds (all views aligned
# to the fusion width); below it one thread is as fast as two on an idle machine
SMALL_WORK = 50_000_000
ENV_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def batch_work(view_dims: dict[str, int], fusion_dim: int, batch_size: int, n_outputs: int) -> int:
    """Multiply-accumulates of one batch through the widest network: every view aligned, plus the head."""
    return batch_size * fusion_dim * (sum(view_dims.values()) + n_outputs + fusion_dim * max(len(view_dims) - 1, 0))


def choose_threads(requested: int | None, jobs: int, work: int, cores: int | None = None) -> int | None:
    """Threads per job (see module docstring); None: leave torch's setting (the environment chose)."""
    if requested is not None:
        if requested < 1:
            raise AutommError(f"{option('threads')} must be at least 1, got {requested}")
        return requested
    if any(os.environ.get(name) for name in ENV_VARIABLES):
        return None
    share = max(1, (available_cores() if cores is None else cores) // max(1, jobs))
    return 1 if work < SMALL_WORK else share


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None: unchanged), then restore the previous count."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


F = TypeVar("F", bound=Callable[..., Any])


def rule_threads(work: Callable[[Any], int]) -> Callable[[F], F]:
    """Decorate a method to run with torch's threads set by the rule for one job (as trials are), the
    work per batch being ``work(self)``: torch's default beside another busy process is many times slower."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with torch_threads(choose_threads(None, 1, work(self))):
                return method(self, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
