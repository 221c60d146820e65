import torch

from automm.core.device import default_device, on_device, seed_torch


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


class _Moves(torch.nn.Module):
    """A network that records each move."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)
        self.register_buffer("count", torch.zeros(1))
        self.moves: list[torch.device] = []

    def to(self, device):  # type: ignore[override]
        self.moves.append(torch.device(device))
        return super().to(device)


def test_on_device_moves_a_network_only_where_some_tensor_is_elsewhere() -> None:
    net = _Moves()
    assert on_device(net, torch.device("cpu")) is net and net.moves == []
    net.to("meta")
    net.moves.clear()
    assert on_device(net, torch.device("meta")) is net and net.moves == []  # every tensor there already
    net.count = torch.zeros(1)  # one buffer elsewhere
    on_device(net, torch.device("meta"))
    assert net.moves == [torch.device("meta")] and net.count.device.type == "meta"
