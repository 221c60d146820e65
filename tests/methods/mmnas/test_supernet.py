"""The MMnas supernet: sampled paths train only their ops, binary gates give BinaryConnect's gradient,
derivation takes the argmax op of every block."""

import torch

from automm.methods.mmnas.model import MMNASNet
from automm.methods.mmnas.supernet import MMNASSupernet, gate_values

DIMS = {"text/tokens": 3, "image/grid": 2}


def _net(**kw):
    torch.manual_seed(0)
    args = {"encoder_blocks": 2, "decoder_blocks": 3, "hidden": 8, "heads": 2, "ffn_ratio": 2, "dropout": 0.0}
    return MMNASSupernet(("text/tokens",), ("image/grid",), DIMS, 4, **{**args, **kw})


def _batch(n=5):
    g = torch.Generator().manual_seed(1)
    mask = torch.ones(n, 6, dtype=torch.bool)
    mask[:, 4:] = False
    return {"text/tokens": torch.randn(n, 6, 3, generator=g), "text/tokens_mask": mask,
            "image/grid": torch.randn(n, 4, 2, generator=g)}  # fmt: skip


def test_a_weight_step_trains_only_the_sampled_path():
    net = _net().train()
    net.sample_path(torch.Generator().manual_seed(0))
    enc, dec = net.path
    net(_batch()).sum().backward()
    for b, ops in enumerate(net.encoder):
        for i, block in enumerate(ops):
            has_grad = any(p.grad is not None for p in block.parameters())
            assert has_grad == (i == enc[b])
    for b, ops in enumerate(net.decoder):
        for i, block in enumerate(ops):
            assert any(p.grad is not None for p in block.parameters()) == (i == dec[b])
    assert net.arch.encoder.grad is None  # a weight step leaves the architecture alone


def test_the_gates_give_binaryconnect_gradient_to_the_logits():
    logits = torch.tensor([0.3, -0.2, 0.5], requires_grad=True)
    gate = (2, 0, 1)  # ops 2 and 0 drawn; the second (op 0) picked
    g = gate_values(logits, gate)
    assert g.tolist() == [0.0, 1.0]  # the value is the pick, one-hot
    upstream = torch.tensor([0.7, -1.3])  # dL/dg for the two gates
    (g * upstream).sum().backward()
    q = torch.softmax(logits.detach()[[2, 0]], dim=0)
    expected = torch.zeros(3)
    for i, op_i in enumerate((2, 0)):  # dL/dalpha_i = sum_j dL/dg_j q_j (delta_ij - q_i)
        expected[op_i] = sum(upstream[j] * q[j] * (float(i == j) - q[i]) for j in range(2))
    assert torch.allclose(logits.grad, expected, atol=1e-6)
    assert logits.grad[1] == 0  # an op not drawn gets no gradient


def test_an_arch_step_moves_the_logits_and_its_output_is_the_picked_path():
    net = _net().train()
    batch = _batch()
    net.sample_gates(torch.Generator().manual_seed(3))
    out = net(batch)
    picked_enc = [g[g[2]] for g in net.gates[0]]
    picked_dec = [g[g[2]] for g in net.gates[1]]
    out.sum().backward()
    assert net.arch.encoder.grad is not None and net.arch.encoder.grad.abs().sum() > 0
    net.gates = None
    net.path = (picked_enc, picked_dec)
    assert torch.allclose(net(batch), out.detach(), atol=1e-5)  # gates equal to the one-hot pick


def test_derivation_is_the_argmax_op_per_block_and_eval_mode_runs_it():
    net = _net()
    with torch.no_grad():
        net.arch.encoder.copy_(torch.tensor([[0.0, 1.0], [2.0, 0.0]]))
        net.arch.decoder.copy_(torch.tensor([[0.0, 0.0, 1.0], [0.0, 3.0, 0.0], [1.0, 0.0, 0.0]]))
    genotype = net.derive()
    assert genotype.encoder == ("ffn", "sa") and genotype.decoder == ("ffn", "ga", "sa")
    assert genotype.x_views == ("text/tokens",) and genotype.hidden == 8
    net.eval()
    net.sample_path(torch.Generator().manual_seed(0))  # eval ignores a sampled path
    batch = _batch()
    net.path = ([0, 0], [0, 0, 0])
    a = net(batch)
    net.path = None
    assert torch.allclose(a, net(batch))
    derived = MMNASNet(genotype, DIMS, 4, dropout=0.0)
    assert derived(batch).shape == (5, 4)
