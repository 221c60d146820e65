import pytest
import torch

from automm.methods.ksnas.ops import make_op


@pytest.mark.parametrize(
    ("name", "expected"),
    [("add", [4.0, -1.0]), ("mul", [3.0, -6.0]), ("max", [3.0, 2.0]), ("avg", [2.0, -0.5])],
)
def test_parameter_free_ops(name, expected):
    x, y = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -3.0]])
    op = make_op(name, 2)
    assert torch.allclose(op(x, y), torch.tensor([expected]))
    assert sum(p.numel() for p in op.parameters()) == 0


def test_concat_projects_back_to_width():
    torch.manual_seed(0)
    op = make_op("concat", 8)
    x, y = torch.randn(5, 8), torch.randn(5, 8)
    out = op(x, y)
    assert out.shape == (5, 8) and (out >= 0).all()
    assert sum(p.numel() for p in op.parameters()) == 16 * 8 + 8
    # the projection sees both inputs in order
    w = op.proj.weight.detach()
    manual = torch.relu(x @ w[:, :8].T + y @ w[:, 8:].T + op.proj.bias.detach())
    assert torch.allclose(out, manual, atol=1e-6)
