import pytest
import torch

from automm.methods.bmnas.model import BMNASNet
from automm.methods.bmnas.ops import STEP_OPS
from automm.methods.bmnas.space import BMNASGenotype, BMNASRecipe
from automm.methods.bmnas.supernet import BMNASSupernet, decidedness

DIMS = {"a": 5, "b": 3, "c": 4}


def _supernet(cells=2, steps=2, step_inputs="distinct"):
    torch.manual_seed(0)
    return BMNASSupernet(BMNASRecipe(8, 4, cells, steps), DIMS, n_outputs=3, dropout=0.0, step_inputs=step_inputs)


def _set(param, values):
    with torch.no_grad():
        param.copy_(torch.tensor(values, dtype=param.dtype))


def test_the_supernet_mixes_every_choice_and_trains_weights_and_architecture_apart():
    net = _supernet()
    views = {v: torch.randn(6, d) for v, d in DIMS.items()}
    assert net(views).shape == (6, 3)
    arch = {id(p) for p in net.arch.parameters()}
    assert not arch & {id(p) for p in net.weight_parameters()}
    assert len(arch) + len(net.weight_parameters()) == len(list(net.parameters()))
    net(views).sum().backward()
    assert all(p.grad is not None for p in net.arch.parameters())  # every weight reaches the loss


def test_derivation_takes_the_strongest_pair_and_the_strongest_edges_and_ops():
    net = _supernet()
    # cell 0 over (a, b, c, none): slot x favours c then a, slot y favours c then b
    _set(net.arch.alpha_x[0], [2.0, 0.0, 3.0, 9.0])  # none is strongest, but never chosen
    _set(net.arch.alpha_y[0], [0.0, 1.0, 3.0, 0.0])
    # products (in e^): x=c,y=c 6 is not allowed (inputs differ); x=a,y=c 5 beats x=c,y=b 4
    # cell 1 over (a, b, c, cell.0, none)
    _set(net.arch.alpha_x[1], [0.0, 0.0, 0.0, 4.0, 0.0])
    _set(net.arch.alpha_y[1], [3.0, 0.0, 0.0, 0.0, 0.0])
    _set(net.arch.beta_x[2], [0.0, 2.0, 0.0])  # step 0 of cell 1: both slots want y most; two different
    _set(net.arch.beta_y[2], [1.0, 2.0, 0.0])  # nodes by the cells' rule: (y, x) e^3 beats (x, y) e^2
    _set(net.arch.beta_x[3], [0.0, 0.0, 2.0, 0.0])  # step 1 of cell 1 reads step.0 and x
    _set(net.arch.beta_y[3], [2.0, 0.0, 0.0, 5.0])
    _set(net.arch.gamma[2], [0.0, 3.0, 0.0, 0.0])
    _set(net.arch.gamma[3], [0.0, 0.0, 0.0, 3.0])
    genotype = net.derive()
    assert (genotype.cells[0].x, genotype.cells[0].y) == ("a", "c")
    cell = genotype.cells[1]
    assert (cell.x, cell.y) == ("cell.0", "a")
    assert str(cell.steps[0]) == "attention(y,x)"
    assert str(cell.steps[1]) == "concatfc(step.0,x)"
    assert genotype.channels == 8 and genotype.length == 4
    BMNASGenotype.from_string(str(genotype))  # a valid genotype


def test_a_cell_never_reads_one_input_twice_even_when_both_slots_want_it():
    net = _supernet(cells=1, steps=1)
    _set(net.arch.alpha_x[0], [5.0, 0.0, 0.0, 0.0])
    _set(net.arch.alpha_y[0], [5.0, 1.0, 0.0, 0.0])
    cell = net.derive().cells[0]
    assert (cell.x, cell.y) == ("a", "b")


@pytest.mark.parametrize(("step_inputs", "step"), [("distinct", "sum(y,x)"), ("paper", "sum(y,y)")])
def test_the_step_rule_decides_whether_a_step_may_read_one_node_twice(step_inputs, step):
    net = _supernet(cells=1, steps=1, step_inputs=step_inputs)
    _set(net.arch.alpha_x[0], [5.0, 0.0, 0.0, 0.0])
    _set(net.arch.alpha_y[0], [0.0, 5.0, 0.0, 0.0])
    _set(net.arch.beta_x[0], [1.0, 3.0, 0.0])  # both slots want y; x is second
    _set(net.arch.beta_y[0], [2.0, 3.0, 0.0])  # (y, x) e^5 beats (x, y) e^4; (y, y) e^6 beats both
    _set(net.arch.gamma[0], [9.0, 0.0, 0.0, 0.0])
    genotype = net.derive()
    assert str(genotype.cells[0].steps[0]) == step.replace("sum", STEP_OPS[0])
    BMNASGenotype.from_string(str(genotype))  # both rules derive valid genotypes


def test_decidedness_is_zero_for_uniform_weights_and_grows_with_a_clear_choice():
    net = _supernet(cells=1, steps=1)
    for p in net.arch.parameters():
        _set(p, [0.0] * p.numel())
    uniform = decidedness(net.weights_table())
    assert uniform["margin_mean"] == pytest.approx(0.0) and uniform["margin_min"] == pytest.approx(0.0)
    _set(net.arch.gamma[0], [0.0, 0.0, 4.0, 0.0])
    table = net.weights_table()
    assert set(table["cell.0.step.0.op"]) == set(STEP_OPS)
    assert decidedness(table)["margin_mean"] > 0.1
    assert decidedness(table)["margin_min"] == pytest.approx(0.0)


def test_the_derived_network_builds_only_what_its_genotype_reads():
    text = "bmnas(C=8,L=4,cell(c,a,glu(x,y)),cell(cell.0,a,sum(x,y),attention(step.0,x)))"
    genotype = BMNASGenotype.from_string(text)
    net = BMNASNet(genotype, DIMS, n_outputs=3, dropout=0.1)
    assert set(net.maps) == {"c", "a"}  # b is not read: no layer for it
    views = {v: torch.randn(5, d) for v, d in DIMS.items()}
    net.eval()
    out = net(views)
    assert out.shape == (5, 3)
    changed = dict(views, b=torch.randn(5, 3) * 100)
    assert torch.equal(net(changed), out)  # an unread view changes nothing
    assert net.head[-1].in_features == 2 * 8 * 4  # both cells feed the head
