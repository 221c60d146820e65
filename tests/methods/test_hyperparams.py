"""Joint architecture + training-settings search: the tuned space, training, KB, export."""

import json

import numpy as np
import pytest

import automm
from automm.core import keys
from automm.core.errors import AutommError
from automm.methods.hyperparams import Candidate, TunedSpace, choices, resolve
from automm.methods.ksnas.sampler import KSNASSampler
from automm.methods.ksnas.settings import KSNASSettings
from automm.methods.ksnas.space import Genotype, SearchSpace
from automm.search import queries
from tests.conftest import make_toy

BASE = automm.SearchConfig(
    folds=1,
    ensemble_size=1,
    fusion_dim=16,
    max_views=3,
    dropout=0.1,
    lr=5e-3,
    batch_size=64,
    max_epochs=15,
    patience=3,
    tune=("lr", "dropout", "fusion_dim"),
)
VIEWS = ("left/feat", "right/feat", "noise/feat")


def test_choices_adapt_to_the_base_settings():
    grid = choices(BASE)
    assert grid["fusion_dim"] == (8, 16, 32) and BASE.lr in grid["lr"] and 0.1 in grid["dropout"]
    assert choices(automm.SearchConfig(weight_decay=0.0))["weight_decay"] == (0.0, 1e-4, 1e-3)
    with pytest.raises(AutommError, match="cannot tune"):
        automm.SearchConfig(tune=("batch_size",))


def test_tuned_space_round_trips_and_resolves():
    space = TunedSpace(SearchSpace(VIEWS, 3), BASE)
    rng = np.random.default_rng(0)
    for _ in range(50):
        c = space.random_genotype(rng)
        assert space.decode(space.encode(c)) == c and space.parse(str(c)) == c and space.contains(c)
    c = space.parse("concat(left/feat,right/feat) | lr=0.015 dropout=0.3 fusion_dim=32")
    inner_space, genotype, config = resolve(space, c, BASE)
    assert isinstance(genotype, Genotype) and inner_space is space.inner
    assert (config.lr, config.dropout, config.fusion_dim, config.weight_decay) == (0.015, 0.3, 32, BASE.weight_decay)
    plain = space.wrap(Genotype(("left/feat",)))  # a first try: the base settings
    assert dict(plain.hparams) == {"lr": BASE.lr, "dropout": 0.1, "fusion_dim": 16}
    assert str(space.parse("left/feat")) == str(plain)
    with pytest.raises(AutommError, match="not tuned"):
        space.parse("left/feat | weight_decay=0.1")
    assert resolve(SearchSpace(VIEWS, 3), Genotype(("left/feat",)), BASE)[2] is BASE  # untuned: unchanged


def test_ksnas_crosses_over_and_mutates_settings_like_genes():
    space = TunedSpace(SearchSpace(VIEWS, 3), BASE)
    sampler = KSNASSampler(space, KSNASSettings(population_size=4, generations=2), seed=0)
    groups = sampler.gene_groups()
    assert ["hp_lr"] in groups and ["hp_fusion_dim"] in groups
    rng = np.random.default_rng(0)
    a, b = space.encode(space.random_genotype(rng)), space.encode(space.random_genotype(rng))
    a["hp_lr"], b["hp_lr"] = choices(BASE)["lr"][0], choices(BASE)["lr"][2]
    children = {sampler.crossover(a, b, np.random.default_rng(s))["hp_lr"] for s in range(20)}
    assert children == {a["hp_lr"], b["hp_lr"]}
    mutated = [sampler.mutate(a, np.random.default_rng(s)) for s in range(200)]
    assert any(m["hp_dropout"] != a["hp_dropout"] for m in mutated)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    study = automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path_factory.mktemp("runs"),
        config=BASE,
        ksnas={"population_size": 4, "generations": 2},
        knowledge={"kb_epochs": 2},
    )
    study.optimize()
    return study


def test_tuned_search_trains_with_each_candidates_settings(tuned):
    trials = [t for t in queries.completed(tuned.optuna_study) if keys.DUPLICATE_OF not in t.user_attrs]
    assert all(set(t.params) >= {"hp_lr", "hp_dropout", "hp_fusion_dim"} for t in trials)
    for t in trials:
        candidate = tuned.space.parse(t.user_attrs[keys.GENOTYPE])
        assert isinstance(candidate, Candidate) and dict(candidate.hparams)["lr"] == t.params["hp_lr"]
        width = dict(candidate.hparams)["fusion_dim"]
        # the KB has the base width: only candidates of that width start from it
        assert (keys.KB_VERSION in t.user_attrs) == (width == BASE.fusion_dim)
        n_params = t.user_attrs[keys.N_PARAMS]
        net = tuned.objective.build(candidate)
        assert sum(p.numel() for p in net.parameters()) == n_params


def test_tuned_candidate_exports_with_its_width(tuned, tmp_path):
    best = tuned.space.parse(str(tuned.best_genotype))
    other = next(w for w in choices(BASE)["fusion_dim"] if w != BASE.fusion_dim)  # a width unlike the KB's
    wide = Candidate(best.genotype, tuple((k, other if k == "fusion_dim" else v) for k, v in best.hparams))
    path = tuned.export(tmp_path / "m", genotype=str(wide))
    meta = json.loads((path / "genotype.json").read_text())
    assert meta["members"][0]["fusion_dim"] == other  # the member's width, beside its architecture
    model = automm.load_model(path)
    views = {v: np.zeros((2, w), np.float32) for v, w in model.meta["view_dims"].items()}
    assert model.predict_proba(views).shape == (2, 4)


def test_mfas_refuses_tuning(tmp_path):
    with pytest.raises(AutommError, match="cannot search training settings"):
        automm.Study(make_toy(n=120), method="mfas", runs_dir=tmp_path, config=BASE)
