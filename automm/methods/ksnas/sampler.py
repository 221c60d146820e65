"""`KSNASSampler`: the evolutionary search of KS-NAS as an Optuna sampler.

Generations come from `optuna.samplers.BaseGASampler` (stored per trial, so workers agree):
generation 0 is a random population; each later generation holds N offspring of the parent
population, which is the elitist best N of the previous generation and its parents.
An offspring is bred from two parents drawn by roulette wheel (probability proportional to
fitness), crossed over with probability ``p_c(t)`` and mutated with probability ``p_m(t)``;
``p_c`` rises and ``p_m`` falls linearly from generation 0 to ``generations - 1`` (adaptive
rates, after CSG-NAS). A genotype already evaluated in the study, or proposed in the same
generation, is mutated again (up to ``max_retries`` times), so no generation evaluates the
same canonical genotype twice.

Surrogate assistance (``surrogate_pool`` > 1, automm's own addition): each offspring slot
breeds that many distinct candidates and evaluates the one a `SequenceSurrogate` predicts
best; the surrogate is fitted once per generation on all earlier generations' results.

All randomness of a trial comes from ``(seed, trial.number)``, so one worker with one seed
reproduces a study exactly; all state lives in the study's storage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.samplers import BaseGASampler
from optuna.study import Study as OptunaStudy
from optuna.trial import FrozenTrial, TrialState

from automm.core import keys
from automm.methods.encoding import SpaceSamplerMixin
from automm.methods.hyperparams import PREFIX
from automm.methods.ksnas._pareto import elitist_order, pareto_ranks
from automm.methods.ksnas.settings import KSNASSettings
from automm.methods.ksnas.space import Genotype, SearchSpace
from automm.methods.surrogate import SequenceSurrogate
from automm.store.artifacts import study_lock
from automm.store.optuna_internals import (
    is_enqueued,
    set_frozen_trial_system_attr,
    set_frozen_trial_system_attrs,
    set_study_system_attr,
    study_id,
    study_system_attr,
    trial_id,
    written_system_attr,
)
from automm.store.trial_record import TrialRecord, trials_of


def roulette(fitness: Sequence[float], rng: np.random.Generator) -> int:
    """Index drawn with probability proportional to fitness (shifted to be positive if needed)."""
    f = np.asarray(fitness, dtype=np.float64)
    if f.min() <= 0:
        f = f - f.min() + 1e-6
    return int(rng.choice(len(f), p=f / f.sum()))


class KSNASSampler(SpaceSamplerMixin, BaseGASampler):
    """Evolutionary sampler over a `SearchSpace` (see module docstring)."""

    def __init__(
        self,
        space: SearchSpace,
        settings: KSNASSettings | None = None,
        seed: int | None = None,
        lock_dir: str | Path | None = None,
    ) -> None:
        """``lock_dir``: the study's artifact folder, shared by its workers (`automm.store.artifacts.study_lock`)."""
        self.settings = settings or KSNASSettings()
        super().__init__(population_size=self.settings.population_size)
        self._init_space(space, seed, lock_dir)
        self._surrogates: dict[int, SequenceSurrogate | None] = {}
        self._keys: dict[tuple[str, int], str] = {}  # (study, trial number) -> its genotype's string (`_taken`)
        self._parent_ids: dict[tuple[int, int], list[int]] = {}  # (study id, generation) -> its parents' trial ids
        self._space_size = space.size()
        self.last_generation: int | None = None  # set for a run that ends with the schedule (`cap_schedule`)
        self.confirm_best = False  # set for a run under a time budget (`KnowledgeSettings.confirm_best`)

    # -- Optuna sampler interface ------------------------------------------------------------
    def before_trial(self, study: OptunaStudy, trial: FrozenTrial) -> None:
        # A trial that samples its candidate gets its generation in `sample_relative`, under the study lock
        # and in one write with its proposal; an enqueued or retried one never gets there: tagged here.
        if is_enqueued(trial) or trial.params:
            self.get_trial_generation(study, trial)

    def get_trial_generation(self, study: OptunaStudy, trial: FrozenTrial) -> int:
        """The trial's generation (`_generation_in`, from the study's trials read now unless the trial holds
        one), written to the trial where it had none or the cap changed it. The running trial's frozen copy
        (the one Optuna hands to sample_relative too) then holds it: asked again, it is read from there."""
        key = self._get_generation_key()
        tagged = trial.system_attrs.get(key)
        generation = self._generation_in([] if tagged is not None else study.get_trials(deepcopy=False), trial)
        if generation != tagged:
            set_frozen_trial_system_attr(study, trial, key, generation)
        return generation

    def _generation_in(self, trials: list[FrozenTrial], trial: FrozenTrial) -> int:
        """``trial``'s generation, decided from ``trials`` (the study's) without writing it: its tag if it has
        one, else Optuna's rule (the newest generation of the completed trials, or the next one once that
        holds the population); with ``last_generation`` set, a trial that would be past it (a worker that
        asked just as another completed the schedule) joins the last one instead."""
        key = self._get_generation_key()
        generation = trial.system_attrs.get(key)
        if generation is None:
            complete = (t for t in trials if t.state == TrialState.COMPLETE)
            done = Counter(t.system_attrs[key] for t in complete if key in t.system_attrs)
            newest = max(done, default=0)
            generation = newest + 1 if done[newest] >= self.population_size else newest
        return int(generation) if self.last_generation is None else min(int(generation), self.last_generation)

    def sample_relative(
        self, study: OptunaStudy, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space or not self.is_own_space(search_space):  # not this genotype space: random search
            self.get_trial_generation(study, trial)
            return self.sample_at_random(study, trial, search_space)
        rng = np.random.default_rng([self.seed, trial.number])
        with study_lock(self.lock_dir):  # workers choosing at once see each other's choice
            trials = study.get_trials(deepcopy=False)
            generation = self._generation_in(trials, trial)
            taken = self._taken(study, trials, trial, generation)
            if generation == 0:
                child = self._fresh(rng, taken)
            else:
                parents = self.get_parent_population(study, generation)
                elite = self._elite_to_confirm(study, trials, parents, taken) if self.confirm_best else None
                child = elite or self._offspring(study, parents, generation, rng, taken)
            chosen = {self._get_generation_key(): generation, keys.PROPOSED: str(child)}
            set_frozen_trial_system_attrs(study, trial, chosen)  # one write: peers see both at once
        params = self.space.encode(child)
        return {k: v for k, v in params.items() if k in search_space}

    def get_parent_population(self, study: OptunaStudy, generation: int) -> list[FrozenTrial]:
        """Optuna's rule (the first to ask selects the parents and stores their ids in the study; everyone
        else reads them), with each generation's ids read once per process and as one attribute: Optuna's
        own reads every study system attribute, optuna-dashboard's figures and notes too, on every call.
        The ids of a generation never change once stored."""
        if generation == 0:
            return []
        cached = (study_id(study), generation)
        if cached not in self._parent_ids:
            key = self._get_parent_cache_key_prefix() + str(generation)
            ids = study_system_attr(study, key)
            if ids is None:
                parents = self.select_parent(study, generation)
                ids = [trial_id(t) for t in parents]
                set_study_system_attr(study, key, ids)
                self._parent_ids[cached] = ids
                return parents
            self._parent_ids[cached] = list(ids)
        wanted = set(self._parent_ids[cached])
        # parents are completed trials (a read a trial's objective answers from its first one), unless this
        # process has not seen one complete yet
        found = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if trial_id(t) in wanted]
        if len(found) < len(wanted):
            found = [t for t in study.get_trials(deepcopy=False) if trial_id(t) in wanted]
        return found

    def select_parent(self, study: OptunaStudy, generation: int) -> list[FrozenTrial]:
        """Elitist environmental selection: the best N distinct genotypes of parents + offspring.

        Several objectives: best by non-dominated front, then crowding distance (NSGA-II order).
        """
        candidates = self.get_population(study, generation - 1) + self.get_parent_population(study, generation - 1)
        candidates = sorted(
            {t.number: t for t in candidates if t.values is not None and self._is_genotype(t)}.values(),
            key=lambda t: t.number,
        )
        points = [_minimised(study, t) for t in candidates]
        if len(study.directions) == 1:
            order = sorted(range(len(candidates)), key=lambda i: (points[i][0], candidates[i].number))
        else:
            order = elitist_order(points)
        chosen, seen = [], set()
        for t in (candidates[i] for i in order):
            key = str(self.decode(t))
            if key in seen:
                continue
            seen.add(key)
            chosen.append(t)
            if len(chosen) == self.settings.population_size:
                break
        return chosen

    # -- genetic operators ---------------------------------------------------------------------
    def decode(self, trial: FrozenTrial) -> Genotype:
        return self.space.decode(trial.params)

    def _genes(self, trial: FrozenTrial) -> dict[str, Any]:
        """A parent's genes: its parameters, or its genotype's genes where the parameters are readable
        (the same genes: a trial's parameters always encode its canonical genotype)."""
        if getattr(self.space, "readable", False):
            return self.space.encode_genes(self.decode(trial))
        return dict(trial.params)

    def _is_genotype(self, trial: FrozenTrial) -> bool:
        return all(k in trial.params for k in self._distributions)

    def _taken(
        self, study: OptunaStudy, trials: list[FrozenTrial], trial: FrozenTrial, generation: int
    ) -> tuple[set[str], set[str]]:
        """(genotypes in this generation, genotypes evaluated anywhere in the study), of ``trials``."""
        same_gen, evaluated = set(), set()
        for t in trials:
            if t.number == trial.number:
                continue
            if (study.study_name, t.number) in self._keys:  # a trial's parameters never change once suggested
                key = self._keys[study.study_name, t.number]
            elif self._is_genotype(t):
                key = self._keys[study.study_name, t.number] = str(self.space.decode(t.params))
            elif keys.PROPOSED in t.system_attrs:  # chosen by another worker, not yet suggested
                key = str(t.system_attrs[keys.PROPOSED])
            else:
                continue
            if t.system_attrs.get(self._get_generation_key()) == generation:
                same_gen.add(key)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                evaluated.add(key)
        return same_gen, evaluated

    def _elite_to_confirm(
        self,
        study: OptunaStudy,
        trials: list[FrozenTrial],
        parents: list[FrozenTrial],
        taken: tuple[set[str], set[str]],
    ) -> Genotype | None:
        """The best parent's genotype, bred again so that `KnowledgeHooks` confirms it from scratch, where
        its result came from a warm start (it holds a KB version), no trial of it trained or trains from
        scratch, and this generation does not hold it yet (`KnowledgeSettings.confirm_best`); else None.
        One objective only: with several there is no one best."""
        if len(study.directions) > 1 or not parents:
            return None
        best = min(parents, key=lambda t: (_minimised(study, t), t.number))
        if keys.KB_VERSION not in best.user_attrs:
            return None
        genotype = self.decode(best)
        key = str(genotype)
        if key in taken[0]:
            return None
        if any(t.state == TrialState.RUNNING and t.system_attrs.get(keys.PROPOSED) == key for t in trials):
            return None  # another worker's trial of it, about to be confirmed (its attributes not written yet)
        for t in trials_of(trials, key):
            if keys.CONFIRMS in t.user_attrs and t.state != TrialState.FAIL:
                return None  # confirmed, or being confirmed by another worker
            record = TrialRecord.of(t)
            if t.state == TrialState.COMPLETE and record.trained and record.cache_key == key:
                return None  # trained from scratch already
        return genotype

    def _fresh(self, rng: np.random.Generator, taken: tuple[set[str], set[str]]) -> Genotype:
        """A random genotype new to the study; in a space the study has exhausted, new to the generation
        (in one the generation has exhausted, any: no draw can avoid a repeat)."""
        avoid = taken[0] | taken[1]
        if self._exhausted(avoid):
            avoid = taken[0]
        child = self.space.random_genotype(rng)
        if self._exhausted(avoid):
            return child
        for _ in range(self.settings.max_retries):
            if str(child) not in avoid:
                break
            child = self.space.random_genotype(rng)
        return child

    def _exhausted(self, genotypes: set[str]) -> bool:
        """Whether ``genotypes`` holds every genotype of the space (no retry can find another)."""
        return len(genotypes) >= self._space_size

    def _offspring(
        self,
        study: OptunaStudy,
        parents: list[FrozenTrial],
        generation: int,
        rng: np.random.Generator,
        taken: tuple[set[str], set[str]],
    ) -> Genotype:
        if not parents:
            return self._fresh(rng, taken)
        pool = self.settings.surrogate_pool
        surrogate = self._surrogate(study, generation) if pool > 1 else None
        if surrogate is None:
            return self._breed(study, parents, generation, rng, taken)
        candidates: list[Genotype] = []
        for _ in range(pool * 3):
            child = self._breed(study, parents, generation, rng, (taken[0] | {str(c) for c in candidates}, taken[1]))
            if str(child) not in {str(c) for c in candidates}:
                candidates.append(child)
            if len(candidates) == pool:
                break
        return candidates[int(np.argmax(surrogate.predict(candidates)))]

    def _surrogate(self, study: OptunaStudy, generation: int) -> SequenceSurrogate | None:
        """A surrogate fitted on the completed trials of earlier generations (cached per generation).

        The first worker to need generation g's surrogate records which trials it is fitted on
        (under the study lock); every other worker fits on exactly those, so all agree.
        """
        if generation not in self._surrogates:
            key = f"{keys.SURROGATE_EVIDENCE}{generation}"
            with study_lock(self.lock_dir):
                numbers = study_system_attr(study, key)
                if numbers is None:
                    numbers = [
                        t.number
                        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                        if (g := trial_generation(t)) is not None
                        and g < generation
                        and t.values
                        and self._is_genotype(t)
                    ]
                    set_study_system_attr(study, key, numbers)
            by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
            chosen = [by_number[n] for n in numbers]
            fitted = None
            if len(chosen) >= 4:
                genotypes = [self.space.decode(t.params) for t in chosen]
                scores = [float(t.values[0]) for t in chosen]  # type: ignore[index]
                fitted = SequenceSurrogate(self.space, seed=self.seed + generation).fit(genotypes, scores)
            self._surrogates[generation] = fitted
        return self._surrogates[generation]

    def _breed(
        self,
        study: OptunaStudy,
        parents: list[FrozenTrial],
        generation: int,
        rng: np.random.Generator,
        taken: tuple[set[str], set[str]],
    ) -> Genotype:
        """One offspring: roulette parents, crossover, mutation, mutated again until new."""
        pc, pm = self.settings.rates(generation)
        fitness = self._fitness(study, parents)
        a = self._genes(parents[roulette(fitness, rng)])
        b = self._genes(parents[roulette(fitness, rng)])
        genes = self.crossover(a, b, rng) if rng.random() < pc else dict(a)
        if rng.random() < pm:
            genes = self.mutate(genes, rng)
        child = self.space.decode_genes(genes)
        avoid = taken[0] | taken[1]
        for _ in range(0 if self._exhausted(avoid) else self.settings.max_retries):
            if str(child) not in avoid:
                return child
            genes = self.mutate(genes, rng)
            child = self.space.decode_genes(genes)
        # The neighbourhood is exhausted: anything new, else a repeat in another generation.
        fresh = self._fresh(rng, taken)
        return fresh if str(fresh) not in taken[0] else child

    @staticmethod
    def _fitness(study: OptunaStudy, parents: list[FrozenTrial]) -> list[float]:
        """Roulette weights: the score itself; with several objectives 1 / (1 + Pareto front index)."""
        if len(study.directions) == 1:
            return [t.values[0] if t.values else 0.0 for t in parents]
        return [1.0 / (1 + r) for r in pareto_ranks([_minimised(study, t) for t in parents])]

    def gene_groups(self) -> list[list[str]]:
        """Genes that travel together in crossover: n_views, each view, each node triple."""
        groups = [["n_views"]] + [[f"view_{i}"] for i in range(self.space.max_views)]
        groups += [[f"node_{j}_left", f"node_{j}_right", f"node_{j}_op"] for j in range(self.space.max_views - 1)]
        return groups + [[name] for name in self._settings_genes()]

    def _settings_genes(self) -> list[str]:
        """Searched training settings (`automm.methods.hyperparams`): genes of their own."""
        return [name for name in self._distributions if name.startswith(PREFIX)]

    def crossover(self, a: dict[str, Any], b: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Uniform crossover over gene groups (a node's inputs and operator stay together)."""
        child = {}
        for group in self.gene_groups():
            source = a if rng.random() < 0.5 else b
            child.update({k: source[k] for k in group})
        return child

    def mutate(self, genes: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Resample one gene that matters for the decoded genotype to a different value."""
        k = int(genes["n_views"])
        active = ["n_views"] + [f"view_{i}" for i in range(k)]
        active += [f"node_{j}_{part}" for j in range(k - 1) for part in ("left", "right", "op")]
        active += self._settings_genes()
        out = dict(genes)
        name = active[int(rng.integers(len(active)))]
        dist = self._gene_distributions[name]
        values = list(range(dist.low, dist.high + 1)) if isinstance(dist, IntDistribution) else list(dist.choices)
        others = [v for v in values if v != genes[name]] or values
        out[name] = others[int(rng.integers(len(others)))]
        return out


def _minimised(study: OptunaStudy, trial: FrozenTrial) -> tuple[float, ...]:
    """The trial's objective values with every objective turned into one to minimise."""
    assert trial.values is not None
    maximise = optuna.study.StudyDirection.MAXIMIZE
    return tuple(-v if d == maximise else v for v, d in zip(trial.values, study.directions, strict=True))


def trial_generation(trial: FrozenTrial | optuna.Trial) -> int | None:
    """The generation `KSNASSampler` assigned to ``trial`` (None if it has none)."""
    return written_system_attr(trial, KSNASSampler._get_generation_key())
