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
starts, and cached in the study's system attributes, so every worker and a resumed study
agree. Trials beyond ``iterations`` start further iterations at temperature ``t_min``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study as OptunaStudy
from optuna.trial import FrozenTrial, TrialState

from automm.errors import AutommError
from automm.samplers.surrogate import SequenceSurrogate
from automm.space_mfas import MFASGenotype, MFASSpace

STEP_ATTR = "MFASSampler:step:"


@dataclass(frozen=True)
class MFASSettings:
    """MFAS defaults from the paper and its code: K 15, E_search 3, L 4, T 10 -> 0.2, 2 epochs, width 16."""

    k: int = 15
    iterations: int = 3
    max_layers: int = 4
    t_max: float = 10.0
    t_min: float = 0.2
    epochs: int = 2
    hidden: int = 16
    weight_sharing: bool = True
    first_level_max: int = 100

    def __post_init__(self) -> None:
        checks = {
            "k": self.k >= 1,
            "iterations": self.iterations >= 1,
            "max_layers": self.max_layers >= 1,
            "t_min": 0 < self.t_min <= self.t_max,
            "epochs": self.epochs >= 1,
            "hidden": self.hidden >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise AutommError(f"invalid MFAS setting {bad[0]}={getattr(self, bad[0])!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def first_level_size(self, space: MFASSpace) -> int:
        n = len(space.layer_choices())
        return n if n <= self.first_level_max else self.k

    def level_sizes(self, space: MFASSpace) -> list[int]:
        """Trials per step at levels 1..L (a level holds at most the candidates unfolding allows)."""
        gamma = len(space.layer_choices())
        sizes = [self.first_level_size(space)]
        for _ in range(2, self.max_layers + 1):
            sizes.append(min(self.k, sizes[-1] * gamma))
        return sizes

    def total_trials(self, space: MFASSpace) -> int:
        return self.iterations * sum(self.level_sizes(space))

    def temperature(self, iteration: int, level: int) -> float:
        n = self.iterations * (self.max_layers - 1)
        if level < 2 or n <= 1:
            return self.t_min if n <= 1 else self.t_max
        index = iteration * (self.max_layers - 1) + (level - 2)
        return float(self.t_max * (self.t_min / self.t_max) ** (min(index, n - 1) / (n - 1)))


class MFASSampler(BaseSampler):
    """Progressive surrogate-guided sampler over an `MFASSpace` (see module docstring)."""

    def __init__(self, space: MFASSpace, settings: MFASSettings | None = None, seed: int | None = None) -> None:
        self.space = space
        self.settings = settings or MFASSettings()
        self.seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (2**31))
        self._distributions = space.distributions()
        self._fallback = RandomSampler(seed=seed)
        self._sizes = self.settings.level_sizes(space)

    def reseed_rng(self) -> None:
        self._fallback.reseed_rng()

    def infer_relative_search_space(self, study: OptunaStudy, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._distributions)

    def sample_relative(
        self, study: OptunaStudy, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        if set(search_space) != set(self._distributions):  # not this space: behave like random search
            return {n: self._fallback.sample_independent(study, trial, n, d) for n, d in search_space.items()}
        step, slot = self.locate(trial.number)
        proposals = self.proposals(study, step)
        genotype = self.space.parse(proposals[slot % len(proposals)])
        return self.space.encode(genotype)

    def sample_independent(
        self, study: OptunaStudy, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    # -- the schedule --------------------------------------------------------------------------
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
        """The genotype strings of ``step`` (computed once, then read from the study)."""
        key = f"{STEP_ATTR}{step}"
        cached = study._storage.get_study_system_attrs(study._study_id).get(key)
        if cached is not None:
            return cached
        computed = self._compute(study, step)
        if study._storage.get_study_system_attrs(study._study_id).get(key) is None:
            study._storage.set_study_system_attr(study._study_id, key, computed)
        return study._storage.get_study_system_attrs(study._study_id)[key]

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
