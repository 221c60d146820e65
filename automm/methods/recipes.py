"""Methods whose trial is a whole search (BM-NAS, MMnas), and the Optuna spaces over their *recipes*.

A recipe is a frozen dataclass of the search's own settings (network shape, a factor on the
architecture learning rate, the search ``seed``, ...). `RecipeSpace` gives each field named in its
``grid`` a categorical parameter ``<prefix>_<field>`` and the seed an integer one; fields without a
parameter keep the default recipe's value. `RecipeMethod` is what such methods share: Optuna's TPE
proposes recipes, the first trial runs the default one, a few trials by default. `RecipeHooks` runs a
trial's search in `derive`, and reuses an earlier trial's search of the same recipe instead.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from automm.core.errors import AutommError
from automm.engine.training import TensorData
from automm.methods.base import SearchContext, SearchMethod, TrialHooks
from automm.methods.encoding import suggest_all
from automm.store import artifacts
from automm.store.trial_record import TrialRecord

SEEDS = 10  # search seeds Optuna may draw (0..SEEDS-1)
DEFAULT_TRIALS = 4  # each trial is a whole search: a few let TPE try other recipes and seeds


class RecipeSpace:
    """Optuna parameters over recipes (module docstring); subclasses set ``prefix``, ``title``,
    ``genotype_type``, ``grid``, ``view_names`` and `default_recipe`."""

    prefix: str
    title: str  # e.g. "BM-NAS", in messages
    genotype_type: Any  # what a search derives: a class with ``from_string`` and ``views``
    grid: dict[str, tuple[Any, ...]]
    view_names: tuple[str, ...]

    def default_recipe(self) -> Any:
        raise NotImplementedError

    def distributions(self) -> dict[str, BaseDistribution]:
        out: dict[str, BaseDistribution] = {
            f"{self.prefix}_{name}": CategoricalDistribution(values) for name, values in self.grid.items()
        }
        out[f"{self.prefix}_seed"] = IntDistribution(0, SEEDS - 1)
        return out

    def decode(self, params: dict[str, Any]) -> Any:
        """The recipe of ``params``; a missing parameter keeps the default recipe's value."""
        default = self.default_recipe()
        values = {}
        for f in dataclasses.fields(default):
            value = getattr(default, f.name)
            values[f.name] = type(value)(params.get(f"{self.prefix}_{f.name}", value))
        return type(default)(**values)

    def suggest(self, trial: Any) -> Any:
        return self.decode(suggest_all(trial, self.distributions()))

    def encode(self, recipe: Any) -> dict[str, Any]:
        """A recipe's parameters (to enqueue it); one outside the choices raises `AutommError`."""
        params = {f"{self.prefix}_{n}": getattr(recipe, n) for n in self.grid}
        params[f"{self.prefix}_seed"] = recipe.seed
        for name, values in self.grid.items():
            if params[f"{self.prefix}_{name}"] not in values:
                raise AutommError(f"{self.title} {name}={params[f'{self.prefix}_{name}']} is not one of {values}")
        return params

    def parse(self, text: str) -> Any:
        """A derived genotype from its string; one reading views this data set lacks raises `AutommError`."""
        genotype = self.genotype_type.from_string(text)
        unknown = [v for v in genotype.views if v not in self.view_names]
        if unknown:
            raise AutommError(f"{text!r} reads view(s) {', '.join(unknown)} this data set does not have")
        return genotype


class RecipeMethod(SearchMethod):
    """A method whose trial runs a whole search from a recipe (its hooks' `derive`), then trains the
    derived network; subclasses name their search in ``search_name`` (e.g. "a BM-NAS search")."""

    search_name: str
    tunes_settings = False  # its trials tune the search's own settings

    def make_sampler(
        self, space: RecipeSpace, seed: int, n_existing: int, lock_dir: Path | None
    ) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=seed + n_existing)

    def baseline_genotypes(self, space: RecipeSpace, ranked_views: list[str]) -> list[tuple[str, Any]]:
        """The settings' own search first (what the paper runs)."""
        return [(f"{space.title} with the default settings", space.default_recipe())]

    def default_trials(self, space: RecipeSpace, preset_trials: int) -> int:
        return DEFAULT_TRIALS

    def plan(self, n_trials: int) -> str:
        first = f"{self.search_name} with the default settings"
        if n_trials <= 1:
            return "one" + first[first.index(" ") :]
        return f"{first}, then {n_trials - 1} more with settings TPE proposes"


class RecipeHooks(TrialHooks):
    """`derive` records the trial's recipe (``recipe_attr``), then copies the ``kept_attrs`` (the first
    being the search's summary) and the genotype of an earlier completed trial of the same recipe (same
    seed: the same search), or else runs `search`. Subclasses set the attribute names and `search`."""

    recipe_attr: str
    kept_attrs: tuple[str, ...]

    def __init__(self, space: RecipeSpace, context: SearchContext) -> None:
        self.space = space
        self.context = context

    def derive(self, trial: optuna.Trial, proposal: Any, train: TensorData, val: TensorData) -> Any:
        recipe = str(proposal)
        trial.set_user_attr(self.recipe_attr, recipe)
        earlier = _searched_before(trial.study, self.recipe_attr, recipe, self.kept_attrs[0])
        if earlier is not None:
            for name in self.kept_attrs:
                if name in earlier.user_attrs:
                    trial.set_user_attr(name, earlier.user_attrs[name])
            return self.space.genotype_type.from_string(TrialRecord.of(earlier).genotype)
        seed = zlib.crc32(f"{self.context.seed}:{self.space.prefix}:{proposal.seed}".encode())
        return self.search(trial, proposal, train, val, seed)

    def search(self, trial: optuna.Trial, recipe: Any, train: TensorData, val: TensorData, seed: int) -> Any:
        """Search with ``recipe`` on ``train`` (weights) and ``val`` (architecture) from ``seed``, record
        what `derive` keeps on ``trial``, and return the derived genotype."""
        raise NotImplementedError

    def keep_history(self, trial: optuna.Trial, attr: str, recipe: Any, arch_lr: float, epochs: list[Any]) -> None:
        """The search's per-epoch ``epochs`` as the trial's JSON artifact, its pointer under ``attr``."""
        history = json.dumps({"recipe": str(recipe), "arch_lr": arch_lr, "epochs": epochs}).encode()
        name = f"trial{trial.number}_{self.space.prefix}_search.json"
        pointer = artifacts.upload_bytes(self.context.artifact_store, history, trial, name, "application/json")
        trial.set_user_attr(attr, pointer)


def _searched_before(study: optuna.Study, recipe_attr: str, recipe: str, search_attr: str) -> FrozenTrial | None:
    """The first completed trial whose ``recipe_attr`` is ``recipe`` and that holds ``search_attr``: a
    method whose trials search (BM-NAS, MMnas) reuses its search instead of repeating it."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get(recipe_attr) == recipe and search_attr in t.user_attrs:
            return t
    return None
