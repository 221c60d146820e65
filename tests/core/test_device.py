import torch

from automm.core.device import default_device, seed_torch


def test_seed_torch_draws_what_torch_manual_seed_draws() -> None:
    torch.manual_seed(123)
    expected = (torch.rand(5), torch.randn(3, 2), torch.randperm(10))
    torch.manual_seed(7)  # something else in between
    seed_torch(123)
    drawn = (torch.rand(5), torch.randn(3, 2), torch.randperm(10))
    for want, got in zip(expected, drawn, strict=True):
        assert torch.equal(want, got)


def test_seed_torch_seeds_the_default_device() -> None:
    device = default_device()
    seed_torch(5)
    first = torch.rand(4, device=device)
    seed_torch(5)
    assert torch.equal(first, torch.rand(4, device=device))
    seed_torch(6)
    assert not torch.equal(first, torch.rand(4, device=device))
