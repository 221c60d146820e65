import numpy as np

from automm.methods.ksnas.space import SearchSpace
from automm.methods.mfas.space import MFASSpace
from automm.methods.surrogate import SequenceSurrogate


def _landscape_mfas(g):
    return 0.5 + 0.2 * np.mean([layer.features[0] == "a/2" for layer in g.layers]) + 0.03 * len(g.layers)


def _landscape_ksnas(g):
    return 0.4 + 0.1 * g.k + 0.1 * str(g).count("concat") - 0.1 * ("v/4" in g.views)


def test_learns_to_rank_both_spaces():
    rng = np.random.default_rng(0)
    for space, f in (
        (MFASSpace(("a/1", "a/2", "b/1", "b/2"), 3), _landscape_mfas),
        (SearchSpace(("v/1", "v/2", "v/3", "v/4"), 4), _landscape_ksnas),
    ):
        gs = [space.random_genotype(rng) for _ in range(160)]
        ys = [f(g) for g in gs]
        s = SequenceSurrogate(space, seed=0).fit(gs[:120], ys[:120])
        pred = s.predict(gs[120:])
        assert np.corrcoef(pred, ys[120:])[0, 1] > 0.8
        again = SequenceSurrogate(space, seed=0).fit(gs[:120], ys[:120]).predict(gs[120:])
        assert np.array_equal(pred, again)  # seeded: every worker fits the same model
