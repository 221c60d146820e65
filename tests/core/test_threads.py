"""The thread rule: explicit request, then the environment, then by network size and jobs."""

import pytest
import torch

from automm.core.errors import AutommError
from automm.core.threads import SMALL_WORK, batch_work, choose_threads, torch_threads


@pytest.fixture(autouse=True)
def _no_thread_variables(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)


def test_small_networks_get_one_thread_large_ones_their_share():
    assert choose_threads(None, jobs=1, work=SMALL_WORK - 1, cores=8) == 1
    assert choose_threads(None, jobs=1, work=SMALL_WORK, cores=8) == 8
    assert choose_threads(None, jobs=3, work=SMALL_WORK, cores=8) == 2
    assert choose_threads(None, jobs=16, work=SMALL_WORK, cores=8) == 1


def test_a_request_wins_then_the_environment(monkeypatch):
    assert choose_threads(3, jobs=4, work=1, cores=2) == 3
    with pytest.raises(AutommError, match="at least 1"):
        choose_threads(0, jobs=1, work=1)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert choose_threads(None, jobs=1, work=1, cores=8) is None  # torch keeps what the user set


def test_batch_work_grows_with_width_and_views():
    small = batch_work({"a": 10, "b": 10}, fusion_dim=64, batch_size=32, n_outputs=3)
    assert batch_work({"a": 10, "b": 10}, fusion_dim=128, batch_size=32, n_outputs=3) > small
    assert batch_work({"a": 10, "b": 10, "c": 10}, fusion_dim=64, batch_size=32, n_outputs=3) > small


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
