import math

import pytest
import torch

from automm.methods.bmnas.ops import STEP_OPS, make_step_op


@pytest.mark.parametrize("name", STEP_OPS)
def test_every_step_op_keeps_the_feature_map_shape_and_passes_gradients(name):
    torch.manual_seed(0)
    x = torch.randn(4, 6, 8, requires_grad=True)
    y = torch.randn(4, 6, 8, requires_grad=True)
    out = make_step_op(name, 8)(x, y)
    assert out.shape == (4, 6, 8)
    out.sum().backward()
    assert x.grad is not None and y.grad is not None


def test_the_ops_compute_what_the_paper_says():
    torch.manual_seed(0)
    x, y = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.allclose(make_step_op("sum", 4)(x, y), x + y)
    attention = make_step_op("attention", 4)(x, y)
    weights = torch.softmax(x @ y.transpose(1, 2) / math.sqrt(4), dim=-1)
    assert torch.allclose(attention, weights @ y)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    glu = make_step_op("glu", 4)
    assert torch.allclose(glu(x, y), glu.value(x) * torch.sigmoid(glu.gate(y)))
    concat = make_step_op("concatfc", 4)
    assert torch.allclose(concat(x, y), torch.relu(concat.proj(torch.cat([x, y], -1))))
    assert (concat(x, y) >= 0).all()
    # attention reads y's positions: a query aligned with one key returns (nearly) that key's value
    keys = torch.eye(4).unsqueeze(0) * 50
    assert torch.allclose(make_step_op("attention", 4)(keys[:, :1], keys), keys[:, :1], atol=1e-4)
