"""Readable parameters for Optuna's own samplers, with the search they make over the genes unchanged.

TPE, random search and NSGA-II search the fusion-tree space's genes (`SearchSpace.gene_distributions`).
`ReadableTuner` wraps one of them so that a trial stores the readable parameters instead (``view_1`` ..,
``node_1`` .., ``node_j_left`` / ``node_j_right``: what optuna-dashboard's Best Trial card shows):

- It proposes every readable parameter at once, as its relative proposal. Inside, it asks the wrapped
  sampler for the genes, in the order the objective suggested them before and through the same calls
  (a gene with one possible value taken as it is, then relative where the wrapped sampler has a relative
  space, else one independent draw per gene),
  decodes them and returns the readable encoding of that genotype. So the readable parameters are always
  the architecture trained, never a repaired proposal.
- The genes it proposed are kept on the trial (system attribute `keys.TUNER_GENES`). The wrapped sampler
  reads the study through `GeneView`: every trial with the readable parameters of this space appears
  with those genes (one without them, e.g. an enqueued first try, with its genotype's `encode_genes`),
  everything else as stored. It sees the history and draws the random numbers it would have with genes:
  a seed gives the same genotypes.
- Other parameters (the settings `SearchConfig.tune` adds) go to the wrapped sampler as before.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from automm.core import keys
from automm.methods.ksnas.space import SearchSpace
from automm.store import optuna_internals


def _single_value(distribution: BaseDistribution) -> Any:
    """The one value of a distribution with one (Optuna takes it without asking the sampler)."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    return distribution.low  # type: ignore[attr-defined]


class GeneView:
    """Trials as the wrapped sampler reads them: each with ``space``'s readable parameters carries its genes
    instead (`with_genes`); finished ones are converted once (they no longer change)."""

    def __init__(self, space: SearchSpace) -> None:
        self._space = space
        self._readable = space.readable_distributions()
        self._genes = space.gene_distributions()
        self._finished: dict[int, FrozenTrial] = {}  # by trial number

    def of(self, study: optuna.Study) -> Any:
        """A read view of ``study`` with every trial through `with_genes` (`optuna_internals.TrialsView`)."""
        return optuna_internals.TrialsView(study, self.with_genes)

    def with_genes(self, trial: FrozenTrial) -> FrozenTrial:
        """``trial`` with its readable parameters replaced by the genes proposed for it (its genotype's
        genes when none were kept); as it is when it holds no readable parameters."""
        known = self._finished.get(trial.number)
        if known is not None:
            return known
        if not all(name in trial.params for name in self._readable):
            return trial
        genes = trial.system_attrs.get(keys.TUNER_GENES) or self._space.encode_genes(
            self._space.decode_readable(trial.params)
        )
        others = {k: v for k, v in trial.params.items() if k not in self._readable}
        out = copy.copy(trial)
        out.params = {**genes, **others}
        out.distributions = {
            **self._genes,
            **{k: d for k, d in trial.distributions.items() if k not in self._readable},
        }
        if trial.state.is_finished():
            self._finished[trial.number] = out
        return out


class ReadableTuner(BaseSampler):
    """``sampler`` (one of Optuna's) over ``space``'s genes, storing the readable parameters (module docstring)."""

    def __init__(self, sampler: BaseSampler, space: SearchSpace) -> None:
        self.sampler = sampler
        self.space = space
        self._readable = space.readable_distributions()
        self._genes = space.gene_distributions()
        self._view = GeneView(space)
        self._inferred: dict[int, dict[str, BaseDistribution]] = {}  # the wrapped sampler's space, by trial number

    def _history(self, study: optuna.Study) -> Any:
        return self._view.of(study)

    def _inner_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(self._history(study), trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        inner = self._inner_space(study, trial)
        self._inferred[trial.number] = inner  # what `sample_relative` gets, as Optuna hands it the space it inferred
        return {**self._readable, **{k: d for k, d in inner.items() if k not in self._genes}}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        history = self._history(study)
        inner = self._inferred.pop(trial.number, None)
        inner = self._inner_space(study, trial) if inner is None else inner
        proposed = self.sampler.sample_relative(history, trial, inner)
        if not all(name in search_space for name in self._readable):
            return {k: v for k, v in proposed.items() if k in search_space and k not in self._genes}
        genes = {}
        for name, dist in self._genes.items():  # as `optuna.Trial` would suggest them one by one
            if dist.single():
                genes[name] = _single_value(dist)
            elif name in proposed:
                genes[name] = proposed[name]
            else:
                genes[name] = self.sampler.sample_independent(history, trial, name, dist)
        optuna_internals.set_frozen_trial_system_attr(study, trial, keys.TUNER_GENES, genes)
        readable = self.space.encode_readable(self.space.decode_genes(genes))
        others = {k: v for k, v in proposed.items() if k in search_space and k not in self._genes}
        return {**readable, **others}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.sampler.sample_independent(self._history(study), trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(self._history(study), trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.sampler.after_trial(self._history(study), trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
