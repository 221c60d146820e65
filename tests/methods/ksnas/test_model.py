import torch

from automm.engine.training import count_parameters
from automm.methods.ksnas.model import build_fusion_net
from automm.methods.ksnas.space import Genotype

DIMS = {"a/x": 5, "b/y": 3, "c/z": 4}


def test_decoded_net_uses_only_chosen_views():
    g = Genotype.from_string("concat(add(a/x,c/z),b/y)")
    net = build_fusion_net(g, DIMS, n_outputs=4, fusion_dim=8, dropout=0.0)
    batch = {k: torch.randn(6, d) for k, d in DIMS.items()}
    assert net(batch).shape == (6, 4)
    assert set(net.align) == {"a/x", "b/y", "c/z"}
    expected = sum(d * 8 + 8 for d in DIMS.values()) + (16 * 8 + 8) + (8 * 4 + 4)
    assert count_parameters(net) == expected


def test_single_view_net_and_layer_names():
    net = build_fusion_net(Genotype(("b/y",)), DIMS, n_outputs=2, fusion_dim=8)
    assert net({"b/y": torch.randn(3, 3)}).shape == (3, 2)
    names = set(build_fusion_net(Genotype.from_string("concat(mul(a/x,b/y),c/z)"), DIMS, 2, 8).state_dict())
    assert "fusion.n1_concat.proj.weight" in names and "align.a/x.0.weight" in names and "head.bias" in names
    assert not any(n.startswith("fusion.n0") for n in names)  # mul has no parameters


def test_forward_matches_manual_computation():
    torch.manual_seed(0)
    g = Genotype.from_string("max(a/x,b/y)")
    net = build_fusion_net(g, DIMS, n_outputs=2, fusion_dim=4, dropout=0.0).eval()
    batch = {"a/x": torch.randn(2, 5), "b/y": torch.randn(2, 3)}
    ha, hb = net.align["a/x"](batch["a/x"]), net.align["b/y"](batch["b/y"])
    assert torch.allclose(net(batch), net.head(torch.maximum(ha, hb)))
