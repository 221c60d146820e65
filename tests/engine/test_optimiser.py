"""automm.engine.optimiser: the fused Adam computes PyTorch's Adam update, and falls back where it cannot run."""

import torch
from torch import nn

from automm.engine.optimiser import adam, fused_supported


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 3))


def _train(optimiser_for, steps: int = 50) -> dict[str, torch.Tensor]:
    net = _net()
    optimiser = optimiser_for(net.parameters())
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(32, 8, generator=generator)
        y = torch.randint(0, 3, (32,), generator=generator)
        optimiser.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        optimiser.step()
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_cpu_parameters_get_the_fused_kernel() -> None:
    optimiser = adam(_net().parameters(), lr=1e-3, weight_decay=1e-4)
    assert optimiser.defaults["fused"] is True
    assert optimiser.defaults["weight_decay"] == 1e-4


def test_the_fused_update_is_adams_update() -> None:
    """Same weights as PyTorch's loop implementation after 50 steps with weight decay, up to rounding."""
    fused = _train(lambda p: adam(p, lr=1e-2, weight_decay=1e-3, betas=(0.5, 0.99)))
    loop = _train(lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3, betas=(0.5, 0.99), foreach=False))
    start = _net().state_dict()
    for key, value in loop.items():
        assert not torch.equal(value, start[key])  # the steps moved every tensor
        torch.testing.assert_close(fused[key], value, rtol=1e-5, atol=1e-6)


def test_a_seed_gives_the_same_run() -> None:
    first = _train(lambda p: adam(p, lr=1e-2))
    second = _train(lambda p: adam(p, lr=1e-2))
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_parameters_without_a_fused_kernel_use_the_loop() -> None:
    meta = [nn.Parameter(torch.zeros(2, device="meta"))]
    assert not fused_supported(meta)
    assert not fused_supported([])
    optimiser = adam(meta, lr=1e-3)
    assert not optimiser.defaults["fused"]
