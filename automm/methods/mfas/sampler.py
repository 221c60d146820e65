"""`MFASSampler`: surrogate-guided progressive search (MFAS, Algorithm 1) as an Optuna sampler.

The search is a fixed schedule of *steps*. Each of ``iterations`` (E_search) search iterations
has one step per level l = 1..L: level 1 proposes every one-layer architecture (Gamma_1; K of
them at random if there are more than ``first_level_max``); level l >= 2 unfolds each
architecture proposed at level l-1 by one more layer, predicts the candidates' scores with a
`SequenceSurrogate` fitted on every completed trial of the study, and samples K of them
without replacement with probabilities ``softmax(z / T)``, z being the standardised
predictions. The temperature falls on an exponential schedule from ``t_max`` to ``t_min``
over the global index of sampling steps, ``e * (L - 1) + (l - 2)`` (indexing by the level
alone restarts the schedule each iteration, the public code's mistake). Trials fill the
steps in trial-number order.

A step's proposals are computed once, from the evidence available when its first trial
starts, by whichever worker takes the study lock first, and cached in the study's system
attributes, so every worker and a resumed study agree. Trials beyond ``iterations`` start
further iterations at temperature ``t_min``. A retried trial (its worker died) evaluates the slot of
the trial it retries and takes no slot of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study as OptunaStudy
from optuna.trial import FrozenTrial, TrialState

from automm.core import keys
from automm.methods.encoding import SpaceSamplerMixin
from automm.methods.mfas.settings import MFASSettings
from automm.methods.mfas.space import MFASGenotype, MFASSpace
from automm.methods.surrogate import SequenceSurrogate
from automm.store.artifacts import study_lock
from automm.store.liveness import retried_from
from automm.store.optuna_internals import set_study_system_attr, study_system_attrs


class MFASSampler(SpaceSamplerMixin, BaseSampler):
    """Progressive surrogate-guided sampler over an `MFASSpace` (see module docstring)."""

    def __init__(
        self,
        space: MFASSpace,
        settings: MFASSettings | None = None,
        seed: int | None = None,
        lock_dir: str | Path | None = None,
    ) -> None:
        """``lock_dir``: the study's artifact folder, shared by its workers (`automm.store.artifacts.study_lock`)."""
        self.settings = settings or MFASSettings()
        self._init_space(space, seed, lock_dir)
        self._sizes = self.settings.level_sizes(space)

    def sample_relative(
        self, study: OptunaStudy, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if not self.is_own_space(search_space):  # not this space: behave like random search
            return self.sample_at_random(study, trial, search_space)
        step, slot = self.locate(trial.number - self._retries_before(study, trial.number))
        proposals = self.proposals(study, step)
        genotype = self.space.parse(proposals[slot % len(proposals)])
        return self.space.encode(genotype)

    # -- the schedule --------------------------------------------------------------------------
    @staticmethod
    def _retries_before(study: OptunaStudy, number: int) -> int:
        """Retries (`automm.store.liveness.retry`) numbered below ``number``: each evaluates its failed
        trial's slot, so it takes none of its own and the trials after it keep their slots."""
        return sum(1 for t in study.get_trials(deepcopy=False) if t.number < number and retried_from(t) is not None)

    def locate(self, number: int) -> tuple[int, int]:
        """(step index, slot) of trial ``number``: steps are filled in order."""
        step, start = 0, 0
        while number >= start + self._sizes[step % len(self._sizes)]:
            start += self._sizes[step % len(self._sizes)]
            step += 1
        return step, number - start

    def step_info(self, step: int) -> tuple[int, int]:
        """(iteration, level) of a step."""
        e, level = divmod(step, len(self._sizes))
        return e, level + 1

    def proposals(self, study: OptunaStudy, step: int) -> list[str]:
        """The genotype strings of ``step``: computed once (under the study lock), then read from the study."""
        key = f"{keys.MFAS_STEP}{step}"
        cached = study_system_attrs(study).get(key)
        if cached is not None:
            return cached
        with study_lock(self.lock_dir):
            cached = study_system_attrs(study).get(key)
            if cached is None:
                cached = self._compute(study, step)
                set_study_system_attr(study, key, cached)
        return cached

    def _compute(self, study: OptunaStudy, step: int) -> list[str]:
        rng = np.random.default_rng([self.seed, step])
        e, level = self.step_info(step)
        choices = self.space.layer_choices()
        if level == 1:
            order = rng.permutation(len(choices))[: self.settings.first_level_size(self.space)]
            return [str(MFASGenotype((choices[i],))) for i in order]
        previous = [self.space.parse(g) for g in self.proposals(study, step - 1)]
        candidates = list(
            dict.fromkeys(str(MFASGenotype((*g.layers, c))) for g in previous if len(g.layers) < level for c in choices)
        )
        size = min(self.settings.k, len(candidates))
        evidence = self.evidence(study)
        if len(evidence[0]) < 2:
            return [candidates[i] for i in rng.choice(len(candidates), size=size, replace=False)]
        surrogate = SequenceSurrogate(self.space, seed=self.seed + step).fit(*evidence)
        predicted = surrogate.predict([self.space.parse(c) for c in candidates])
        probs = sampling_probabilities(predicted, self.settings.temperature(e, level))
        picked = rng.choice(len(candidates), size=size, replace=False, p=probs)
        return [candidates[i] for i in picked]

    def evidence(self, study: OptunaStudy) -> tuple[list[MFASGenotype], list[float]]:
        """(genotypes, scores) of every completed trial of this space, from storage."""
        genotypes, scores = [], []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.values and all(k in t.params for k in self._distributions):
                genotypes.append(self.space.decode(t.params))
                scores.append(float(t.values[0]))
        return genotypes, scores


def sampling_probabilities(predicted: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(z / T) of standardised predictions: high T is near uniform, low T trusts the surrogate."""
    p = np.asarray(predicted, dtype=np.float64)
    z = (p - p.mean()) / (p.std() + 1e-12)
    w = np.exp((z - z.max()) / temperature)
    return w / w.sum()
