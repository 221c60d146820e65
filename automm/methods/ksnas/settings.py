"""KS-NAS settings: the evolution (`KSNASSettings`) and the knowledge base (`KnowledgeSettings`).

No torch import: the CLI and presets read these without loading a network library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from automm.core.errors import AutommError
from automm.settings import TrainConfig

STORED_DTYPES = ("float16", "float32")
FINISH_MODES = ("budget", "always", "never")


@dataclass(frozen=True)
class KSNASSettings:
    """Evolution settings (defaults: the paper's N = T = 20; rate schedule documented above)."""

    population_size: int = 20
    generations: int = 20
    crossover_start: float = 0.6
    crossover_end: float = 0.9
    mutation_start: float = 0.5
    mutation_end: float = 0.1
    max_retries: int = 50
    surrogate_pool: int = 1  # > 1: breed this many offspring per slot, evaluate the surrogate's favourite
    # a trial's Optuna parameters name its views, operators and inputs (`SearchSpace` readable=True), so
    # optuna-dashboard's Best Trial card reads as the architecture; studies stored before keep the genes
    readable_params: bool = True

    def __post_init__(self) -> None:
        if self.population_size < 2:
            raise AutommError(f"the population needs at least 2 individuals, got {self.population_size}")
        if self.surrogate_pool < 1:
            raise AutommError(f"surrogate_pool must be at least 1, got {self.surrogate_pool}")
        if self.generations < 1:
            raise AutommError(f"generations must be at least 1, got {self.generations}")
        for name in ("crossover_start", "crossover_end", "mutation_start", "mutation_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise AutommError(f"{name} must lie in [0, 1], got {getattr(self, name)}")

    def rates(self, generation: int) -> tuple[float, float]:
        """(crossover rate, mutation rate) at ``generation``."""
        frac = min(generation / max(self.generations - 1, 1), 1.0)
        pc = self.crossover_start + (self.crossover_end - self.crossover_start) * frac
        pm = self.mutation_start + (self.mutation_end - self.mutation_start) * frac
        return pc, pm

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KnowledgeSettings:
    """How the KB is built and updated."""

    kb_epochs: int = 20  # supernet pretraining epochs, at most (0: version 0 is the random initialisation)
    # an int: pretraining stops once the loss on a 10% holdout of the KB's own training rows has not improved
    # for this many epochs (`knowledge.pretrain_supernet`); None, the default: always kb_epochs. Measured
    # in benchmarks/RESULTS.md (knowledge-sharing-kb-convergence): no saving under K folds, so off
    kb_patience: int | None = None
    fair_selection: bool = True  # False: every trained individual contributes
    merge_rate: float = 1.0  # 1.0 replaces each used layer by the contributors' mean
    # early-stopping patience of warm-started individuals (None: as cold). 2, decided on out-of-fold scores
    # (benchmarks/RESULTS.md, knowledge-sharing-patience-2; 3 before, which studies stored before keep)
    warm_patience: int | None = 2
    # with K > 1 folds: one KB per fold, every fold warm-started from its own (False: one KB, fold 0 only)
    every_fold: bool = True
    # with K > 1 folds: a warm start stops inside fold 0 after epoch 1, 3, 7, ... unless its best score so
    # far is in the top half of earlier warm starts' after as many epochs (`automm.search.folds`)
    race_epochs: bool = True
    # the same race on one split (K = 1; False: only with K > 1 folds). Decided on validation scores
    # (benchmarks/RESULTS.md, knowledge-sharing-one-split-race; studies stored before resume without it)
    race_one_split: bool = True
    # KB versions and the weights waiting to be merged, at rest in the artifact store: "float16" halves
    # the store (merging and warm starts compute in float32), "float32" keeps them exact
    stored_dtype: str = "float16"
    # delete a KB version once no trial the delivered ensemble may still draw from started from it
    # (the newest two versions of each fold always stay; `automm.methods.ksnas.knowledge`)
    prune_versions: bool = True
    # a genotype met again in a later generation: False, the default, reuses its earlier result, as the
    # evolution from scratch does (no training); True trains it again from the newer KB version (studies
    # stored before resume so). Decided on out-of-fold scores: benchmarks/RESULTS.md, knowledge-sharing-repeats
    retrain_repeats: bool = False
    # under a time budget (`Study.optimize(time_budget=...)`): a genotype met again whose result came from a
    # warm start is trained once more from scratch at the full patience, its confirmation (later repeats
    # reuse that), so time a small or exhausted space would spend on repeats buys fully trained
    # candidates. No effect on a fixed schedule; studies stored before resume without it. Decided on
    # out-of-fold scores: benchmarks/RESULTS.md, knowledge-sharing-budget-confirm
    confirm_repeats: bool = True
    # under a time budget too: each generation's best parent, where its result came from a warm start and
    # its genotype has no from-scratch result yet, is bred again as one offspring, so the repeat rule above
    # confirms it (at most one a generation; needs confirm_repeats; one objective only). No effect on a
    # fixed schedule; studies stored before resume without it. Off: on out-of-fold scores it did not pay
    # (benchmarks/RESULTS.md, knowledge-sharing-budget-best: -0.11 points on average, digits -0.56)
    confirm_best: bool = False
    # after the search, the delivered ensemble's members whose kept fold networks were warm-started train on
    # from those weights at the from-scratch patience, on the same fold rows, before the choice is final
    # (`automm.delivery.finishing`): "budget", the default, under a time budget only (where time the search
    # would spend on more warm starts buys them); "always"; "never". Decided on out-of-fold scores:
    # benchmarks/RESULTS.md, knowledge-sharing-budget-finish
    finish_members: str = "budget"

    def __post_init__(self) -> None:
        if self.stored_dtype not in STORED_DTYPES:
            raise AutommError(f"stored_dtype must be one of {', '.join(STORED_DTYPES)}, got {self.stored_dtype!r}")
        if self.kb_epochs < 0:
            raise AutommError(f"kb_epochs must be at least 0, got {self.kb_epochs}")
        if self.kb_patience is not None and self.kb_patience < 1:
            raise AutommError(f"kb_patience must be at least 1, got {self.kb_patience}")
        if self.warm_patience is not None and self.warm_patience < 1:
            raise AutommError(f"warm_patience must be at least 1, got {self.warm_patience}")
        if self.finish_members not in FINISH_MODES:
            raise AutommError(f"finish_members must be one of {', '.join(FINISH_MODES)}, got {self.finish_members!r}")
        if self.confirm_best and not self.confirm_repeats:
            raise AutommError("confirm_best needs confirm_repeats: the elite is confirmed as a repeat")
        if not 0.0 < self.merge_rate <= 1.0:
            raise AutommError(f"merge_rate must lie in (0, 1], got {self.merge_rate}")

    def warm_config(self, config: TrainConfig) -> TrainConfig:
        """How a network warm-started from the KB trains: ``config`` with `warm_patience`."""
        return config if self.warm_patience is None else replace(config, patience=self.warm_patience)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
