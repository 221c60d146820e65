import optuna
import pytest
from optuna.testing.pytest_samplers import BasicSamplerTestCase, RelativeSamplerTestCase

from automm.core.errors import AutommError
from automm.core.keys import MFAS_STEP as STEP_ATTR
from automm.methods.mfas.sampler import MFASSampler, sampling_probabilities
from automm.methods.mfas.settings import MFASSettings
from automm.methods.mfas.space import MFASSpace

SPACE = MFASSpace(("a/1", "a/2", "a/3", "b/1", "b/2"), max_layers=3)


def objective(trial):
    g = SPACE.suggest(trial)
    return 0.5 + 0.1 * sum(layer.features[0] == "a/2" for layer in g.layers) / len(g.layers) + 0.02 * len(g.layers)


class TestOptunaBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: MFASSampler(SPACE, seed=0)


class TestOptunaRelative(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: MFASSampler(SPACE, seed=0)


def test_schedule_and_temperature():
    s = MFASSettings(k=5, iterations=2, max_layers=3, t_max=10, t_min=0.2)
    assert s.level_sizes(SPACE) == [18, 5, 5] and s.total_trials(SPACE) == 56
    temps = [s.temperature(e, level) for e in range(2) for level in (2, 3)]
    assert temps[0] == pytest.approx(10) and temps[-1] == pytest.approx(0.2)
    assert temps == sorted(temps, reverse=True)  # global step index: no restart per iteration
    with pytest.raises(AutommError, match="t_min"):
        MFASSettings(t_min=20)


def test_sampling_probabilities_follow_temperature():
    pred = [0.1, 0.2, 0.9]
    hot, cold = sampling_probabilities(pred, 100.0), sampling_probabilities(pred, 0.2)
    assert max(hot) - min(hot) < 0.05 and cold[2] > 0.95
    assert sum(cold) == pytest.approx(1.0)


def test_progressive_unfolding_cached_in_storage():
    settings = MFASSettings(k=5, iterations=2, max_layers=3)
    sampler = MFASSampler(SPACE, settings, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=settings.total_trials(SPACE))
    attrs = study._storage.get_study_system_attrs(study._study_id)
    steps = [attrs[f"{STEP_ATTR}{s}"] for s in range(6)]
    assert sorted(steps[0]) == sorted(
        str(SPACE.parse(f"{c.activation}({'+'.join(c.features)})")) for c in SPACE.layer_choices()
    )
    for s in (1, 2, 4, 5):  # each level extends the previous level's proposals by one layer
        previous = set(steps[s - 1])
        assert all(">".join(g.split(">")[:-1]) in previous for g in steps[s]) and len(set(steps[s])) == 5
    genotypes = [str(SPACE.decode(t.params)) for t in study.trials]
    assert genotypes[18:23] == steps[1] and genotypes[28:46] == steps[3]
    # a new sampler on the same study reuses the stored proposals
    again = MFASSampler(SPACE, settings, seed=99)
    assert again.proposals(study, 2) == steps[2]


def test_surrogate_steers_towards_better_architectures():
    settings = MFASSettings(k=5, iterations=3, max_layers=3, t_min=0.05)
    study = optuna.create_study(direction="maximize", sampler=MFASSampler(SPACE, settings, seed=0))
    study.optimize(objective, n_trials=settings.total_trials(SPACE))
    last = [t.value for t in study.trials[-5:]]
    level_three = [t.value for t in study.trials if len(SPACE.decode(t.params).layers) == 3]
    random_study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    random_study.optimize(objective, n_trials=len(study.trials))
    assert sum(last) / 5 > sum(t.value for t in random_study.trials) / len(random_study.trials)
    assert max(level_three) >= 0.5 + 0.1 + 0.06 - 1e-9  # the best chain (all layers read a/2) was found


def test_a_retried_trial_keeps_the_schedule():
    from automm.store.liveness import retry

    settings = MFASSettings(k=3, iterations=1, max_layers=2, first_level_max=4)
    sampler = MFASSampler(SPACE, settings, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=2)
    trial = study.ask()  # its worker dies mid-trial
    SPACE.suggest(trial)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    retry(study, study.trials[-1])
    study.optimize(objective, n_trials=sum(settings.level_sizes(SPACE)))
    stored = study._storage.get_study_system_attrs(study._study_id)
    steps = [stored[f"{STEP_ATTR}{s}"] for s in range(2)]
    done = [str(SPACE.decode(t.params)) for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    for proposals in steps:  # every proposal of both steps evaluated, the failed one by its retry
        assert set(proposals) <= set(done)
