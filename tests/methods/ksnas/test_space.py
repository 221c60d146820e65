import numpy as np
import optuna
import pytest

from automm.core.errors import AutommError
from automm.methods.ksnas.space import OPS, FusionNode, Genotype, SearchSpace

VIEWS = ("a/x", "b/y", "c/z", "d/w", "e/v")


def test_equal_architectures_equal_strings():
    g1 = Genotype(("c/z", "a/x", "b/y"), (FusionNode(0, 1, "add"), FusionNode(3, 2, "concat")))
    g2 = Genotype(("b/y", "a/x", "c/z"), (FusionNode(2, 1, "add"), FusionNode(0, 3, "concat")))
    assert g1 == g2 and str(g1) == str(g2) == "concat(add(a/x,c/z),b/y)"
    assert g1.views == ("a/x", "c/z", "b/y")
    assert Genotype.from_string(str(g1)) == g1


def test_different_architectures_differ():
    g1 = Genotype.from_string("add(a/x,b/y)")
    assert g1 != Genotype.from_string("mul(a/x,b/y)")
    assert g1 != Genotype.from_string("add(a/x,c/z)")
    assert str(Genotype(("a/x",))) == "a/x"


def test_random_round_trips_both_directions():
    space = SearchSpace(VIEWS, max_views=4)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(3000):
        g = space.random_genotype(rng)
        assert space.decode(space.encode(g)) == g
        assert Genotype.from_string(str(g)) == g
        seen.add(str(g))
    assert len(seen) > 1000
    assert {len(Genotype.from_string(s).views) for s in seen} == {1, 2, 3, 4}


def test_decode_repairs_duplicates_and_wraps_picks():
    space = SearchSpace(VIEWS, max_views=3)
    params = space.encode(Genotype.from_string("add(a/x,b/y)"))
    params.update(view_0="a/x", view_1="a/x", node_0_left=7, node_0_right=9)
    g = space.decode(params)
    assert g.views == ("a/x", "b/y")  # duplicate replaced by the next unused view


def test_distributions_fixed_length_and_suggest():
    space = SearchSpace(VIEWS, max_views=4)
    dists = space.distributions()
    assert len(dists) == 1 + 4 + 3 * 3
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    names = set()
    for _ in range(5):
        trial = study.ask()
        space.suggest(trial)
        names.add(tuple(sorted(trial.params)))
        study.tell(trial, 0.0)
    assert names == {tuple(sorted(dists))}


def test_enqueued_genotype_decodes_back():
    space = SearchSpace(VIEWS, max_views=4)
    target = Genotype.from_string("max(concat(a/x,d/w),avg(b/y,e/v))")
    study = optuna.create_study()
    study.enqueue_trial(space.encode(target))
    assert space.suggest(study.ask()) == target


@pytest.mark.parametrize(
    ("views", "nodes", "message"),
    [
        ((), (), "at least one view"),
        (("a", "a"), (FusionNode(0, 1, "add"),), "must be distinct"),
        (("a", "b"), (), "needs 1 fusion nodes"),
        (("a", "b"), (FusionNode(0, 2, "add"),), "not an earlier view or node"),
        (("a", "b"), (FusionNode(0, 0, "add"),), "with itself"),
        (("a", "b"), (FusionNode(0, 1, "sub"),), "unknown fusion operator 'sub'"),
        (("a", "b", "c"), (FusionNode(0, 1, "add"), FusionNode(0, 2, "add")), "exactly one later node"),
        (("a.b",), (), "must not contain"),
    ],
)
def test_invalid_genotypes(views, nodes, message):
    with pytest.raises(AutommError, match=message):
        Genotype(views, nodes)


@pytest.mark.parametrize("text", ["add(a,b", "add(a)", "foo(a,b)", "add(a,b)c", "", "(a,b)"])
def test_malformed_strings(text):
    with pytest.raises(AutommError):
        Genotype.from_string(text)


def test_space_limits():
    space = SearchSpace(("a", "b"), max_views=5, ops=("add", "concat"))
    assert space.max_views == 2
    assert not space.contains(Genotype.from_string("mul(a,b)"))
    with pytest.raises(AutommError, match="not in this search space"):
        space.encode(Genotype.from_string("mul(a,b)"))
    with pytest.raises(AutommError, match="unknown fusion operator"):
        SearchSpace(("a",), ops=("sub",))
    assert set(OPS) == {"add", "mul", "concat", "max", "avg", "attention", "glu"}  # glu, attention: opt-in
    assert SearchSpace(("a", "b")).ops == ("add", "mul", "concat", "max", "avg")  # the default pool


def test_readable_parameters_round_trip_and_name_the_architecture():
    space = SearchSpace(VIEWS, max_views=4, readable=True)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        g = space.random_genotype(rng)
        params = space.encode(g)
        assert space.decode(params) == g
        assert set(params) == set(space.distributions())
        used = [params[f"view_{i}"] for i in range(1, 5) if params[f"view_{i}"] != "-"]
        assert tuple(used) == g.views
        assert sum(params[f"node_{j}"] != "-" for j in range(1, 4)) == len(g.nodes)
    params = space.encode(Genotype.from_string("concat(add(a/x,c/z),b/y)"))
    assert params == {
        "view_1": "a/x", "view_2": "c/z", "view_3": "b/y", "view_4": "-",
        "node_1": "add", "node_1_left": "a/x", "node_1_right": "c/z",
        "node_2": "concat", "node_2_left": "node_1", "node_2_right": "b/y",
        "node_3": "-", "node_3_left": "-", "node_3_right": "-",
    }  # fmt: skip


def test_readable_proposals_of_another_sampler_decode_to_valid_genotypes():
    space = SearchSpace(VIEWS, max_views=4, readable=True)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))  # names drawn independently
    seen = set()
    for _ in range(300):
        trial = study.ask()
        g = space.suggest(trial)  # repaired, never refused
        assert space.contains(g) and Genotype.from_string(str(g)) == g
        seen.add(str(g))
        study.tell(trial, 0.0)
    assert len(seen) > 100
    # an input not available at its node is repaired to the first one that is
    assert space.decode_readable(
        {"view_1": "a/x", "view_2": "b/y", "view_3": "-", "view_4": "-", "node_1": "add",
         "node_1_left": "node_2", "node_1_right": "a/x", "node_2": "-", "node_2_left": "-", "node_2_right": "-",
         "node_3": "-", "node_3_left": "-", "node_3_right": "-"}
    ) == Genotype.from_string("add(a/x,b/y)")  # fmt: skip
    assert space.decode_readable({**space.encode(Genotype(("a/x",))), "view_1": "-"}) == Genotype(("a/x",))


def test_the_genes_are_the_encoding_of_the_default_space():
    genes, readable = SearchSpace(VIEWS, max_views=4), SearchSpace(VIEWS, max_views=4, readable=True)
    g = Genotype.from_string("max(concat(a/x,d/w),avg(b/y,e/v))")
    assert readable.encode_genes(g) == genes.encode(g) and readable.gene_distributions() == genes.distributions()


@pytest.mark.parametrize(("n", "max_views", "n_ops"), [(2, 2, 5), (3, 3, 2), (3, 3, 5), (4, 4, 2)])
def test_the_size_of_a_space_is_its_number_of_genotypes(n, max_views, n_ops):
    space = SearchSpace(VIEWS[:n], max_views=max_views, ops=OPS[:n_ops])
    rng = np.random.default_rng(0)
    drawn = {str(space.random_genotype(rng)) for _ in range(30 * space.size())}
    assert len(drawn) == space.size()  # every genotype drawn, none beyond the count
