"""Weights as safetensors bytes: what automm writes is what safetensors' torch writer writes, and reads back."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save as torch_save

from automm.core.errors import AutommError
from automm.store.artifacts import sha256, state_from_bytes, state_to_bytes


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    grid = torch.randn(6, 4)
    return {
        "w": torch.randn(3, 5, requires_grad=True),
        "half": torch.randn(7).half(),
        "double": torch.randn(2, 2).double(),
        "steps": torch.tensor(12, dtype=torch.int64),
        "mask": torch.rand(5) > 0.5,
        "bytes": torch.randint(0, 255, (4,), dtype=torch.uint8),
        "column": grid[:, 1],  # not contiguous
        "tail": grid[3:],  # contiguous, at an offset into its storage
    }


def test_state_bytes_are_safetensors_torch_bytes_and_read_back_exactly():
    state = _state()
    data = state_to_bytes(state)
    assert data == torch_save({k: v.detach().contiguous() for k, v in state.items()})
    back = state_from_bytes(data, sha256(data), "a test state")
    assert set(back) == set(state)
    for name, tensor in state.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor.detach()), name


def test_a_dtype_numpy_lacks_is_written_by_torch():
    state = {"b": torch.randn(3, 2).bfloat16(), "f": torch.ones(2)}
    data = state_to_bytes(state)
    assert data == torch_save(state)
    back = state_from_bytes(data, sha256(data), "a test state")
    assert back["b"].dtype == torch.bfloat16 and torch.equal(back["b"], state["b"])


def test_state_bytes_are_checked_before_they_are_read():
    data = state_to_bytes({"f": torch.ones(2)})
    with pytest.raises(AutommError, match="a test state"):
        state_from_bytes(data[:-1], sha256(data), "a test state")
