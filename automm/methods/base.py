"""The `SearchMethod` protocol: everything the generic study, objective, CLI and reports ask a method.

A method is one wing of ``automm/methods/``: its space (genotype <-> fixed-length Optuna
parameters), its network, its sampler, and optional per-trial hooks (warm starts, weight
sharing). The study never branches on a method's name; it calls these members instead.

Settings: a method owns *sections* of the study's stored settings (``ksnas``, ``knowledge``,
``mfas``, ...). `sections` maps each to its settings dataclass (or to a plain default value);
defaults come from the data set's preset, then the user's overrides; the study stores the
result and a resumed study uses it again. `options` turns fields of those sections into
command-line options of ``automm search``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any, ClassVar

import optuna
import torch
from torch import nn

from automm.core.errors import AutommError
from automm.core.threads import batch_work
from automm.data.dataset import MultimodalDataset
from automm.engine.fold_data import FoldData
from automm.engine.training import FitResult, TensorData
from automm.settings import Preset, SearchConfig, TrainConfig, settings_from_dict


@dataclass(frozen=True)
class MethodOption:
    """A command-line option of ``automm search`` that sets ``section[field]`` (``field`` None: the section)."""

    param: str  # Python name of the option, e.g. ``population``
    flags: tuple[str, ...]  # e.g. ("--population",) or ("--knowledge-sharing/--no-knowledge-sharing",)
    section: str
    field: str | None
    type: type
    help: str


@dataclass(frozen=True)
class SearchContext:
    """What a method's hooks may use during a search (and when retraining its candidates)."""

    optuna_study: optuna.Study
    artifact_store: Any
    lock_dir: Any  # the study's shared lock: its artifact folder, or a `SharedLock` (`artifacts.study_lock`)
    dataset: MultimodalDataset
    config: SearchConfig
    seed: int
    device: torch.device
    folds: FoldData  # the study's folds and their tensors, made once (`automm.engine.fold_data`)


class TrialHooks:
    """What a method adds to the generic objective; the defaults add nothing.

    Call order in a trial: `derive` (the sampler's proposal -> the candidate), `prepare` (before the
    duplicate check), then for a new evaluation `before_fit`, `train_config`, training, `after_fit`
    on fold 0 (on every fold, in order, when `every_fold`; a candidate raced out stops early); for a
    duplicate, `release`.
    """

    every_fold: bool = False  # whether `before_fit` and `after_fit` run on every fold, not fold 0 only
    # whether a warm start's early fold-0 curve races it against earlier warm starts (`automm.search.folds`)
    races_epochs: bool = False
    races_one_split: bool = False  # whether it does so on one split too (otherwise only with K > 1 folds)
    # set by the search loop (`automm.search.jobs.run_trials`) for each run under a time budget: the seconds
    # the search has left before its deadline, less what delivery holds back, which a method's extra time
    # must fit in (KS-NAS confirms warm results); None without a budget
    time_left: Callable[[], float] | None = None

    def derive(self, trial: optuna.Trial, proposal: Any, train: TensorData, val: TensorData) -> Any:
        """The candidate to train for the sampler's ``proposal`` (default: the proposal itself). A method
        whose trials search (BM-NAS) runs its search here on fold 0's ``train`` and ``val`` tensors."""
        return proposal

    def prepare(self, trial: optuna.Trial, genotype: Any) -> str:
        """Record method attributes on ``trial``; return its cache key (same key, same result)."""
        return str(genotype)

    def before_fit(self, trial: optuna.Trial, net: nn.Module, fold: int = 0) -> bool:
        """Initialise ``net``, the network of ``fold`` (e.g. from shared weights); return whether it was
        warm-started."""
        return False

    def train_config(self, config: TrainConfig, warm: bool) -> TrainConfig:
        return config

    def after_fit(self, trial: optuna.Trial, net: nn.Module, result: FitResult, fold: int = 0) -> None:
        """Share what ``net``, trained on ``fold``, learned (e.g. offer its weights to a knowledge base)."""

    def release(self, trial: optuna.Trial) -> None:
        """``trial`` repeats an earlier evaluation and is not trained, or was raced out before its last
        fold: drop what `prepare` and the fits kept."""


class SearchMethod:
    """Base class of the search methods (see module docstring); subclasses fill in the members."""

    name: ClassVar[str]
    title: ClassVar[str]  # human name, e.g. "KS-NAS"
    sections: ClassVar[dict[str, Any]] = {}  # section -> settings dataclass, or a default value
    options: ClassVar[tuple[MethodOption, ...]] = ()
    family: ClassVar[str]  # the network family an export is rebuilt with (`automm.delivery.networks`)
    # words of the method's genotype strings that are structure, not fusion steps, each with the name of
    # the feature that counts it (None: not counted); read by the architecture importance and trial notes
    structure_words: ClassVar[dict[str, str | None]] = {}
    proxy_scores: ClassVar[bool] = False  # True: search scores come from short training (retrain the best)
    summary_top: ClassVar[int] = 5  # rows of the summary table after a search
    tunes_settings: ClassVar[bool] = True  # whether its sampler handles `SearchConfig.tune`'s extra parameters
    uses_ops: ClassVar[bool] = False  # whether its networks fuse with `SearchConfig.ops` (the fusion-tree space)
    uses_tokens: ClassVar[bool] = False  # whether its networks take token views (N, L, d); else they are pooled
    # whether a fold bag is delivered as the networks the search trained (`adopt_inputs` can re-standardise
    # them); the objective keeps the best candidates' fold networks only for such a method
    keeps_fold_networks: ClassVar[bool] = False

    def __init__(self, settings: dict[str, Any]) -> None:
        """``settings``: the stored section values (dicts or plain values), as `automm.study.stored_settings`
        resolved them (the preset, then the request)."""
        self.raw = dict(settings)
        self.settings = {name: self._parse(name, settings[name]) for name in self.sections}

    # -- settings ---------------------------------------------------------------------------------
    @classmethod
    def _parse(cls, section: str, value: Any) -> Any:
        kind = cls.sections[section]
        if isinstance(kind, type) and is_dataclass(kind):
            if not isinstance(value, dict):
                raise AutommError(f"{section} settings must be a mapping, got {value!r}")
            return settings_from_dict(kind, value, section)
        return value

    @classmethod
    def default_settings(cls, preset: Preset) -> dict[str, Any]:
        """Each section's defaults: the dataclass's, updated by the preset's section of that name."""
        out: dict[str, Any] = {}
        for name, kind in cls.sections.items():
            if isinstance(kind, type) and is_dataclass(kind):
                out[name] = asdict(settings_from_dict(kind, {**asdict(kind()), **preset.section(name)}, name))
            else:
                out[name] = kind  # a plain default value
        return out

    @classmethod
    def legacy_settings(cls, stored: dict[str, Any], preset: Preset) -> dict[str, Any]:
        """Sections a study stored by an older automm lacks, made from what it stored instead."""
        return {name: value for name, value in cls.default_settings(preset).items() if name not in stored}

    # -- space, network, sampler ------------------------------------------------------------------
    def make_space(self, view_names: tuple[str, ...], config: SearchConfig) -> Any:
        raise NotImplementedError

    def make_sampler(
        self, space: Any, seed: int, n_existing: int, lock_dir: Path | None
    ) -> optuna.samplers.BaseSampler:
        """The sampler; ``n_existing`` trials are in the study already (a resumed search)."""
        raise NotImplementedError

    def build_net(
        self, space: Any, genotype: Any, view_dims: dict[str, int], n_outputs: int, config: SearchConfig
    ) -> nn.Module:
        """A freshly initialised network of ``genotype`` (seed torch beforehand)."""
        raise NotImplementedError

    def diagram(self, space: Any, genotype: Any, view_dims: dict[str, int], config: SearchConfig) -> str:
        """A standalone SVG document of ``genotype``'s network."""
        raise NotImplementedError

    @classmethod
    def net_from_export(cls, meta: dict[str, Any]) -> nn.Module:
        """A fresh network of the exported genotype, from `export_info` plus ``genotype``, ``view_dims``,
        ``class_names`` (weights are loaded afterwards)."""
        raise NotImplementedError

    def export_info(self, space: Any, config: SearchConfig) -> dict[str, Any]:
        """What `automm.delivery.export.load_model` needs, besides the genotype, to rebuild the network."""
        return {"space": self.family, "fusion_dim": config.fusion_dim, "dropout": config.dropout}

    # -- the search -------------------------------------------------------------------------------
    def baseline_genotypes(self, space: Any, ranked_views: list[str]) -> list[tuple[str, Any]]:
        """(name, genotype) of what a user tries first, in ``space``: a new study evaluates them
        first. ``ranked_views``: the view names, most informative first. Default: none."""
        return []

    def default_trials(self, space: Any, preset_trials: int) -> int:
        return preset_trials

    @property
    def generation_size(self) -> int | None:
        """Trials per generation, for methods that evolve generations (the dashboard refreshes after each)."""
        return None

    def trials_to_boundary(self, optuna_study: optuna.Study) -> int:
        """Trials still to complete before the schedule's next clean stopping point, where a time
        budget may stop the search (0: at one). Default: after every trial."""
        return 0

    def is_done(self, optuna_study: optuna.Study) -> bool | None:
        """Whether the search is complete by the method's own schedule; None: count trials instead."""
        return None

    def cap_schedule(self, sampler: Any, capped: bool) -> None:
        """``capped``: this run ends with the method's own schedule (`is_done`), so trials that start as
        another worker completes it must stay inside it; else trials may go past it. Default: nothing to do."""

    def time_budget_mode(self, sampler: Any, under_time_budget: bool) -> None:
        """Whether this run is under a time budget, for a sampler whose choices depend on it. Default:
        nothing to do."""

    def finishes_members(self, under_time_budget: bool) -> bool:
        """Whether the delivered ensemble's warm-started members train on at the from-scratch patience before
        the choice is final (`automm.delivery.finishing`), in a study searched under a time budget or not.
        Default: no (nothing is warm-started)."""
        return False

    def hooks(self, context: SearchContext, space: Any, train: TensorData) -> TrialHooks:
        return TrialHooks()

    def warm_folds(self, trial: optuna.trial.FrozenTrial) -> int:
        """How many of ``trial``'s first folds were warm-started (default: fold 0 when `warm_started`)."""
        return int(self.warm_started(trial))

    def warm_started(self, trial: optuna.trial.FrozenTrial) -> bool:
        """Whether ``trial`` started from shared weights that `final_start` can give back."""
        return False

    def final_start(
        self, context: SearchContext, trial: optuna.trial.FrozenTrial, fold: int = 0
    ) -> dict[str, torch.Tensor] | None:
        """Weights to start the final training of ``trial``'s genotype from (None: from scratch); with
        ``fold``, those its network of that fold started from (a delivered fold bag, see `warm_folds`)."""
        return None

    def warm_train_config(self, config: TrainConfig) -> TrainConfig:
        """The training settings of a network started from `final_start` (default: ``config``)."""
        return config

    def warm_start(self, net: nn.Module, state: dict[str, torch.Tensor]) -> None:
        net.load_state_dict(state)

    def adopt_inputs(self, net: nn.Module, maps: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> bool:
        """Make ``net``, trained on views standardised one way, take views standardised another: for each
        ``view: (scale, shift)``, fold the per-feature change ``x -> scale * x + shift`` of its input into
        the first layer that reads it, so that ``net`` computes exactly what it did. Return False if the
        method cannot (its delivery then trains the network again); the default cannot. A method that can
        sets `keeps_fold_networks`."""
        return False

    @classmethod
    def sections_from_options(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Section overrides from command-line option values by name (None: not given).

        An option given for a method that does not have it raises `AutommError`.
        """
        own = {o.param: o for o in cls.options}
        out: dict[str, Any] = {}
        for param, value in values.items():
            if value is None:
                continue
            option = own.get(param)
            if option is None:
                flag = "--" + param.replace("_", "-")
                raise AutommError(f"{flag} does not apply to method {cls.name}")
            if option.field is None:
                out[option.section] = value
            else:
                out.setdefault(option.section, {})[option.field] = value
        return out

    # -- what people see --------------------------------------------------------------------------
    def after_search_note(self) -> str | None:
        """A line printed under the search's summary (e.g. that its scores are proxies)."""
        return None

    def describe(self) -> str:
        """The settings in a few words, for the line under the data set (may be empty)."""
        return ""

    def plan(self, n_trials: int) -> str:
        """What ``n_trials`` trials cover of the method's schedule, in a few words (may be empty)."""
        return ""

    def settings_rows(self) -> dict[str, Any]:
        """The method's settings, flat, for the HTML report."""
        rows: dict[str, Any] = {}
        for name, value in self.settings.items():
            rows.update(asdict(value) if is_dataclass(value) else {name: value})
        return rows

    def trial_lines(self, user_attrs: dict[str, Any]) -> list[str]:
        """Extra Markdown lines for a trial's dashboard note, from its user attributes so far."""
        return []

    def note_lines(self, optuna_study: optuna.Study) -> list[str]:
        """Extra Markdown lines for the dashboard note."""
        return []

    def trial_columns(self, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        """The method's own columns of a row of `Study.trials_table` (KS-NAS: ``kb_version``)."""
        return {}

    def generation_columns(self, trials: list[optuna.trial.FrozenTrial]) -> dict[str, str]:
        """The method's own cells (header -> text) of a generation's row in the generation table, from
        the generation's completed trials (KS-NAS: the KB version and how many fed the next one)."""
        return {}

    def progress_note(self, trial: optuna.trial.FrozenTrial) -> str | None:
        """A few words on a finished trial for the terminal's progress bar (KS-NAS: ``KB v3``)."""
        return None

    def batch_work(self, dataset: MultimodalDataset, config: SearchConfig) -> int:
        """Multiply-accumulates of one training batch of the largest network, for the thread rule
        (`automm.core.threads`); default: every view aligned to the fusion width, then fused and the head."""
        return batch_work(dict(dataset.view_dims), config.fusion_dim, config.batch_size, dataset.n_classes)

    def pretraining_cost(self, optuna_study: optuna.Study) -> tuple[int, float]:
        """(epochs, seconds) spent before the first trial (e.g. supernet pretraining)."""
        return 0, 0.0

    def scratch_epochs_floor(self) -> int:
        """Epochs before which a network trained from random weights is assumed not to peak, for a
        study that trained none from scratch (`automm.search.budget.DeliveryReserve`); 0: no floor."""
        return 0
