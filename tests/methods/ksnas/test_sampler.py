import itertools
import zlib
from collections import Counter

import numpy as np
import optuna
import pytest
from optuna.samplers import BaseGASampler
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    MultiObjectiveSamplerTestCase,
    RelativeSamplerTestCase,
)

from automm.core import keys as automm_keys
from automm.core.errors import AutommError
from automm.methods.ksnas import sampler as sampler_module
from automm.methods.ksnas.sampler import KSNASSampler, roulette, trial_generation
from automm.methods.ksnas.settings import KSNASSettings
from automm.methods.ksnas.space import SearchSpace

SPACE = SearchSpace(("a/x", "b/y", "c/z", "d/w", "e/v"), max_views=4)


def score(genotype) -> float:
    """A deterministic fitness landscape: more views and the 'concat' operator help."""
    text = str(genotype)
    return 0.3 + 0.1 * genotype.k + 0.05 * text.count("concat") + (zlib.crc32(text.encode()) % 100) / 2000


def objective(trial):
    return score(SPACE.suggest(trial))


def _run(settings, seed=0, n=None, storage=None, name=None):
    sampler = KSNASSampler(SPACE, settings, seed=seed)
    study = optuna.create_study(
        direction="maximize", sampler=sampler, storage=storage, study_name=name, load_if_exists=True
    )
    study.optimize(objective, n_trials=n or settings.population_size * settings.generations)
    return study, sampler


class TestOptunaBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: KSNASSampler(SPACE, KSNASSettings(population_size=4), seed=0)


class TestOptunaRelative(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: KSNASSampler(SPACE, KSNASSettings(population_size=4), seed=0)


class TestOptunaMultiObjective(MultiObjectiveSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: KSNASSampler(SPACE, KSNASSettings(population_size=4), seed=0)


def test_genotype_parameters_come_from_the_genetic_operators(monkeypatch):
    """Optuna's relative cases only reach the random fallback; this reaches the genotype path."""
    sampler = KSNASSampler(SPACE, KSNASSettings(population_size=4, generations=3), seed=0)
    independent, bred = [], []
    monkeypatch.setattr(sampler, "sample_independent", lambda *a: independent.append(a[2]))
    real_breed = sampler._breed
    monkeypatch.setattr(sampler, "_breed", lambda *a: bred.append(1) or real_breed(*a))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=12)
    assert not independent  # every parameter of every trial came from sample_relative
    assert len(bred) >= 8  # generations 1 and 2 are bred from parents
    for t in study.trials:
        assert set(t.params) == set(SPACE.distributions())
        assert SPACE.encode(SPACE.decode(t.params)) == t.params  # a canonical, decodable genotype


def test_two_objectives_select_parents_by_front_and_crowding():
    sampler = KSNASSampler(SPACE, KSNASSettings(population_size=4, generations=4), seed=0)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(lambda t: (score(g := SPACE.suggest(t)), float(g.k)), n_trials=16)
    pool = sampler.get_population(study, 2) + sampler.get_parent_population(study, 2)
    parents = sampler.get_parent_population(study, 3)
    dominated = {
        t.number
        for t in pool
        if any(o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in pool)
    }
    front = [t for t in pool if t.number not in dominated]
    if len({str(sampler.decode(t)) for t in front}) >= 4:
        assert all(p.number not in dominated for p in parents)
    else:
        assert {str(sampler.decode(t)) for t in front} <= {str(sampler.decode(p)) for p in parents}


def test_adaptive_rates_and_settings_validation():
    s = KSNASSettings(generations=5)
    rates = [s.rates(g) for g in range(7)]
    assert rates[0] == pytest.approx((0.6, 0.5)) and rates[4] == pytest.approx((0.9, 0.1))
    assert all(a[0] <= b[0] and a[1] >= b[1] for a, b in itertools.pairwise(rates))
    assert rates[6] == rates[4]
    with pytest.raises(AutommError, match="at least 2"):
        KSNASSettings(population_size=1)
    with pytest.raises(AutommError, match="mutation_start"):
        KSNASSettings(mutation_start=1.5)


def test_roulette_is_fitness_proportional():
    rng = np.random.default_rng(0)
    counts = Counter(roulette([0.1, 0.3, 0.6], rng) for _ in range(20000))
    assert [counts[i] / 20000 for i in range(3)] == pytest.approx([0.1, 0.3, 0.6], abs=0.015)
    shifted = Counter(roulette([-1.0, 0.0, 1.0], rng) for _ in range(20000))  # shifted to [0, 1, 2] (+ epsilon)
    assert [shifted[i] / 20000 for i in range(3)] == pytest.approx([0.0, 1 / 3, 2 / 3], abs=0.015)


def test_generations_elitism_and_no_duplicates_within_generation():
    settings = KSNASSettings(population_size=6, generations=6)
    study, sampler = _run(settings)
    gens = [trial_generation(t) for t in study.trials]
    assert Counter(gens) == {g: 6 for g in range(6)}
    for g in range(6):
        genotypes = [str(SPACE.decode(t.params)) for t in study.trials if trial_generation(t) == g]
        assert len(set(genotypes)) == len(genotypes)
    # elitist selection: parent populations never get worse
    best_parents = [max(t.value for t in sampler.get_parent_population(study, g)) for g in range(1, 6)]
    worst_parents = [min(t.value for t in sampler.get_parent_population(study, g)) for g in range(1, 6)]
    assert best_parents == sorted(best_parents) and worst_parents == sorted(worst_parents)
    parents = sampler.get_parent_population(study, 3)
    pool = sampler.get_population(study, 2) + sampler.get_parent_population(study, 2)
    assert min(p.value for p in parents) >= sorted((t.value for t in pool), reverse=True)[5] - 1e-12
    # evolution beats the random initial population
    assert max(t.value for t in study.trials if trial_generation(t) == 5) > max(
        t.value for t in study.trials if trial_generation(t) == 0
    )


def test_seeded_runs_reproduce_and_seeds_differ():
    settings = KSNASSettings(population_size=4, generations=4)
    a = [t.params for t in _run(settings, seed=7)[0].trials]
    b = [t.params for t in _run(settings, seed=7)[0].trials]
    c = [t.params for t in _run(settings, seed=8)[0].trials]
    assert a == b and a != c


def test_offspring_come_from_crossover_and_mutation():
    sampler = KSNASSampler(SPACE, KSNASSettings(), seed=0)
    rng = np.random.default_rng(0)
    a = SPACE.encode(SPACE.random_genotype(rng))
    b = SPACE.encode(SPACE.random_genotype(rng))
    child = sampler.crossover(a, b, rng)
    for group in sampler.gene_groups():
        assert all(child[k] == a[k] for k in group) or all(child[k] == b[k] for k in group)
    mutated = sampler.mutate(a, rng)
    assert sum(mutated[k] != a[k] for k in a) == 1


def test_enqueued_trials_are_tagged_with_a_generation():
    sampler = KSNASSampler(SPACE, KSNASSettings(population_size=3), seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial(SPACE.encode(SPACE.random_genotype(np.random.default_rng(1))))
    study.optimize(objective, n_trials=4)
    assert [trial_generation(t) for t in study.trials] == [0, 0, 0, 1]


def test_resumed_study_continues_generations(tmp_path):
    storage = f"sqlite:///{tmp_path}/ga.db"
    settings = KSNASSettings(population_size=4, generations=4)
    _run(settings, n=6, storage=storage, name="ga")
    study, _ = _run(settings, n=10, storage=storage, name="ga")  # a new sampler object: state is in storage
    assert Counter(trial_generation(t) for t in study.trials) == {0: 4, 1: 4, 2: 4, 3: 4}
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_a_capped_schedule_never_opens_a_generation_past_the_last():
    settings = KSNASSettings(population_size=3, generations=2)
    study, sampler = _run(settings)
    assert Counter(map(trial_generation, study.trials)) == {0: 3, 1: 3}
    sampler.last_generation = 1  # a worker asks just as another completed generation 1
    study.optimize(objective, n_trials=1)
    assert trial_generation(study.trials[-1]) == 1
    sampler.last_generation = None  # a run asked for more trials than the schedule
    study.optimize(objective, n_trials=1)
    assert trial_generation(study.trials[-1]) == 2


def test_a_trial_generation_is_written_once_and_read_back_without_storage(tmp_path, monkeypatch):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/ga.db")
    sampler = KSNASSampler(SPACE, KSNASSettings(population_size=3, generations=3), seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage)
    generation_key = sampler._get_generation_key()
    writes, with_proposal, reads, seen = Counter(), Counter(), [0], []
    write, read = storage.set_trial_system_attr, storage.get_trial_system_attrs

    def counted_write(trial_id, key, value):
        writes.update([trial_id] if key == generation_key else [])
        write(trial_id, key, value)

    def counted_read(trial_id):
        reads[0] += 1
        return read(trial_id)

    together = sampler_module.set_frozen_trial_system_attrs

    def counted_together(study, trial, attrs):  # the proposal's write: the generation goes with it
        with_proposal.update([trial._trial_id] if generation_key in attrs and automm_keys.PROPOSED in attrs else [])
        together(study, trial, attrs)

    monkeypatch.setattr(storage, "set_trial_system_attr", counted_write)
    monkeypatch.setattr(storage, "get_trial_system_attrs", counted_read)
    monkeypatch.setattr(sampler_module, "set_frozen_trial_system_attrs", counted_together)

    def tagged(trial):
        value = objective(trial)  # the sampler proposes (sample_relative) first
        before = reads[0]
        seen.append(trial_generation(trial))  # the running trial: from its own copy
        assert reads[0] == before
        return value

    study.optimize(tagged, n_trials=9)
    # each trial's generation written once, in one write with the sampler's proposal
    assert not writes and len(with_proposal) == 9 and set(with_proposal.values()) == {1}
    assert seen == [trial_generation(t) for t in study.trials] == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_a_generations_parents_are_read_once_and_alone_and_are_optunas(tmp_path, monkeypatch):
    """Optuna's rule reads every study system attribute (optuna-dashboard's figures too) on each call; the
    sampler reads a generation's parent ids once, as one attribute, and returns the same trials."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/ga.db")
    sampler = KSNASSampler(SPACE, KSNASSettings(population_size=3, generations=4), seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage)
    every, keys = [0], Counter()
    read_every, read_one = storage.get_study_system_attrs, sampler_module.study_system_attr

    def counted_every(study_id):
        every[0] += 1
        return read_every(study_id)

    def counted_one(study, key):
        keys.update([key])
        return read_one(study, key)

    monkeypatch.setattr(storage, "get_study_system_attrs", counted_every)
    monkeypatch.setattr(sampler_module, "study_system_attr", counted_one)
    study.optimize(objective, n_trials=12)
    assert every[0] == 0
    assert len(keys) == 3 and set(keys.values()) == {1}  # generations 1-3, each once
    monkeypatch.undo()
    other = KSNASSampler(SPACE, KSNASSettings(population_size=3, generations=4), seed=0)  # reads them from storage
    for generation in (1, 2, 3):
        optunas = [t.number for t in BaseGASampler.get_parent_population(sampler, study, generation)]
        assert [t.number for t in sampler.get_parent_population(study, generation)] == optunas
        assert [t.number for t in other.get_parent_population(study, generation)] == optunas
        assert len(optunas) == 3


def test_readable_parameters_leave_the_evolution_unchanged():
    settings = KSNASSettings(population_size=4, generations=4)
    runs = {}
    for readable in (False, True):
        space = SearchSpace(SPACE.view_names, SPACE.max_views, readable=readable)
        study = optuna.create_study(direction="maximize", sampler=KSNASSampler(space, settings, seed=3))
        study.optimize(lambda trial, space=space: score(space.suggest(trial)), n_trials=16)
        runs[readable] = [str(space.decode(t.params)) for t in study.trials]
        if readable:
            assert set(study.best_trial.params) == set(space.readable_distributions())
    assert runs[True] == runs[False]


def test_an_exhausted_space_is_bred_without_retries(monkeypatch):
    small = SearchSpace(("a/x", "b/y"), max_views=2)  # seven genotypes
    assert small.size() == 7
    sampler = KSNASSampler(small, KSNASSettings(population_size=5, generations=6), seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda trial: score(small.suggest(trial)), n_trials=10)
    assert len({str(small.decode(t.params)) for t in study.trials}) == 7  # every genotype met
    draws = Counter()
    for owner, name in ((KSNASSampler, "mutate"), (SearchSpace, "random_genotype")):
        real = getattr(owner, name)

        def counted(self, *args, _real=real, _name=name):
            draws.update([_name])
            return _real(self, *args)

        monkeypatch.setattr(owner, name, counted)
    study.optimize(lambda trial: score(small.suggest(trial)), n_trials=20)
    # an offspring: at most one mutation, never max_retries (50) in search of a genotype the study lacks; random
    # draws only until one is new to the generation (2 of 7 or more are: a few draws)
    assert draws["mutate"] <= 20 and draws["random_genotype"] <= 5 * 20
    assert Counter(trial_generation(t) for t in study.trials) == {g: 5 for g in range(6)}
