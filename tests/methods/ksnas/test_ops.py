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


def test_bmnas_step_ops_on_vectors():
    torch.manual_seed(0)
    x, y = torch.randn(5, 12), torch.randn(5, 12)
    glu = make_op("glu", 12)
    assert torch.allclose(glu(x, y), glu.value(x) * torch.sigmoid(glu.gate(y)))
    attention = make_op("attention", 12)
    assert attention.positions == 4  # 12 = 4 positions of 3 channels
    out = attention(x, y)
    assert out.shape == (5, 12)
    # each of x's positions reads a convex mix of y's positions
    xs, ys = x.view(5, 4, 3), y.view(5, 4, 3)
    weights = torch.softmax(xs @ ys.transpose(1, 2) / 3**0.5, dim=-1)
    assert torch.allclose(out, (weights @ ys).view(5, 12), atol=1e-6)
    assert make_op("attention", 7).positions == 1


def test_the_extra_ops_join_a_ksnas_study_and_its_knowledge_base_by_role(tmp_path):
    import automm
    from automm.core.errors import AutommError
    from automm.methods.ksnas.model import Supernet
    from tests.conftest import make_toy

    study = automm.Study(
        make_toy(n=200),
        runs_dir=tmp_path,
        folds=1,
        ensemble_size=1,
        ops="concat,attention,glu",
        ksnas={"population_size": 4, "generations": 2},
    )
    assert study.space.ops == ("concat", "attention", "glu")
    supernet = Supernet({"a": 3, "b": 2}, 2, 8, 2, 0.0, study.space.ops)
    assert set(supernet.fusion) == {"n0_concat", "n0_attention", "n0_glu"}  # the KB's layer names
    study.optimize()
    genotypes = [t.user_attrs["genotype"] for t in study.optuna_study.trials]
    used = {op for g in genotypes for op in ("attention", "glu") if op + "(" in g}
    assert used  # evolution uses them
    with pytest.raises(AutommError, match="--ops"):
        automm.Study(make_toy(n=200), runs_dir=tmp_path / "b", method="mfas", ops=["glu"])
    with pytest.raises(AutommError, match="unknown fusion operator"):
        automm.Study(make_toy(n=200), runs_dir=tmp_path / "c", ops=["conv"])
