"""Settings shared by every search method, and the data-set presets in `studies/` (no torch import).

`SearchConfig` fixes how a candidate is built and trained; it is stored with the study.
A method's own settings (KS-NAS evolution, knowledge base, MFAS schedule) live in its wing,
`automm/methods/<name>/settings.py`; a preset keeps their TOML sections as plain dicts for the
method to parse.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from automm.core.errors import AutommError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FUSION_OPS: tuple[str, ...] = ("add", "mul", "concat", "max", "avg")  # binary fusion operators (KS-NAS space)
EXTRA_OPS: tuple[str, ...] = ("attention", "glu")  # BM-NAS's step ops, opt-in (``--ops``); concat is its ConcatFC
KNOWN_OPS: tuple[str, ...] = FUSION_OPS + EXTRA_OPS
SCHEDULES: tuple[str, ...] = ("constant", "cosine")
TUNABLE: tuple[str, ...] = ("lr", "weight_decay", "dropout", "fusion_dim")  # see `automm.methods.hyperparams`
# what a study stored by an automm without these settings meant: one split, one network, plain training
LEGACY_CONFIG: dict[str, object] = {
    "label_smoothing": 0.0,
    "view_dropout": 0.0,
    "schedule": "constant",
    "ema": 0.0,
    "folds": 1,
    "ensemble_size": 1,
    "tune": [],
}


def refuse_invalid(settings: object, checks: dict[str, bool], what: str) -> None:
    """Raise `AutommError` ``invalid <what> <field>=<value>`` for the first field whose check is False."""
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise AutommError(f"invalid {what} {bad[0]}={getattr(settings, bad[0])!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and stopping rule for one network."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 10
    threshold: float = 0.5  # sigmoid threshold for multilabel F1
    label_smoothing: float = 0.0  # multiclass cross-entropy target smoothing
    view_dropout: float = 0.0  # chance of zeroing each view of a training row (never all of them)
    schedule: str = "constant"  # learning rate: constant, or cosine annealing over max_epochs
    ema: float = 0.0  # decay of an exponential moving average of the weights (0: off); scored and kept


@dataclass(frozen=True)
class SearchConfig:
    """Everything that fixes how a genotype is built and trained (stored with the study)."""

    fusion_dim: int = 256
    max_views: int = 0  # most views one architecture fuses (0: every view of the data)
    ops: tuple[str, ...] = FUSION_OPS
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 10
    threshold: float = 0.5
    # decided on selection rows (benchmarks/RESULTS.md, section training-recipe): view dropout raised their
    # score, label smoothing lowered it (it had been chosen on test rows before that rule)
    label_smoothing: float = 0.0
    view_dropout: float = 0.2
    schedule: str = "constant"
    ema: float = 0.0
    folds: int = 0  # cross-validation folds that score a candidate; 0: chosen from the data's size
    ensemble_size: int = 5  # greedy ensemble-selection rounds for the delivered model (1: one network)
    tune: tuple[str, ...] = ()  # settings searched with the architecture (from TUNABLE)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "tune", tuple(self.tune))
        checks = {
            "fusion_dim": self.fusion_dim >= 1,
            "max_views": self.max_views >= 0,
            "dropout": 0 <= self.dropout < 1,
            "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0,
            "batch_size": self.batch_size >= 1,
            "max_epochs": self.max_epochs >= 1,
            "patience": self.patience >= 1,
            "threshold": 0 < self.threshold < 1,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "view_dropout": 0 <= self.view_dropout < 1,
            "schedule": self.schedule in SCHEDULES,
            "ema": 0 <= self.ema < 1,
            "folds": self.folds == 0 or 2 <= self.folds <= 20 or self.folds == 1,
            "ensemble_size": 1 <= self.ensemble_size <= 100,
        }
        refuse_invalid(self, checks, "setting")
        untunable = [n for n in self.tune if n not in TUNABLE]
        if untunable:
            raise AutommError(f"cannot tune {', '.join(untunable)}; tunable: {', '.join(TUNABLE)}")
        unknown = [op for op in self.ops if op not in KNOWN_OPS]
        if unknown or not self.ops:
            raise AutommError(f"unknown fusion operator(s) {unknown}; known: {', '.join(KNOWN_OPS)}")

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            threshold=self.threshold,
            label_smoothing=self.label_smoothing,
            view_dropout=self.view_dropout,
            schedule=self.schedule,
            ema=self.ema,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ops"] = list(self.ops)
        out["tune"] = list(self.tune)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SearchConfig:
        return settings_from_dict(cls, values, "search")


def settings_from_dict(cls: type, values: dict[str, Any], what: str) -> Any:
    """``cls(**values)`` for a settings dataclass, with a one-line error naming unknown keys or a value
    of the wrong type (an int field takes no 2.5, a float field takes ints, a tuple field lists)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise AutommError(f"unknown {what} setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    hints = get_type_hints(cls)
    for name, value in values.items():
        if not _fits(value, hints[name]):
            raise AutommError(f"{what} setting {name} = {value!r} has the wrong type; expected {_named(hints[name])}")
    return cls(**values)


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as read from TOML, JSON or Python) fits the annotation ``hint``."""
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        return any(_fits(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if origin is Literal:
        return value in get_args(hint)
    if origin in (tuple, list):
        args = [a for a in get_args(hint) if a is not Ellipsis]
        return isinstance(value, (tuple, list)) and all(_fits(v, args[0]) for v in value) if args else True
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _named(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


@dataclass(frozen=True)
class Preset:
    """A data set's default settings, read from ``studies/<name>.toml``.

    ``sections`` holds the method sections (``[ksnas]``, ``[knowledge]``, ``[mfas]``, ...) as
    dicts; the method that uses one validates it.
    """

    name: str
    description: str
    trials: int  # default trial count for methods without a schedule of their own
    config: SearchConfig
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.sections.get(name, {}))


def studies_dir() -> Path:
    """Where presets live: inside an installed wheel, or the repository's `studies/`."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_studies", here.parent / "studies"):
        if candidate.is_dir():
            return candidate
    return here.parent / "studies"


def _preset_path(name: str) -> Path | None:
    """``studies/<name>.toml`` for a plain name (no path outside `studies/`), if it exists."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name or ""):
        return None
    path = studies_dir() / f"{name}.toml"
    return path if path.is_file() else None


def has_preset(name: str) -> bool:
    """Whether ``studies/<name>.toml`` exists (else `load_preset` gives the general defaults)."""
    return _preset_path(name) is not None


def load_preset(name: str) -> Preset:
    """The preset for data set ``name``; defaults when there is none."""
    path = _preset_path(name)
    if path is None:
        return Preset(name, "no preset: defaults", 30, SearchConfig())
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AutommError(f"{path}: invalid TOML ({exc})") from exc
    sections = {k: dict(v) for k, v in raw.items() if isinstance(v, dict) and k != "config"}
    trials = raw.get("trials", 30)
    if not _fits(trials, int) or trials < 1:
        raise AutommError(f"{path}: trials = {trials!r} must be a whole number of at least 1")
    try:
        return Preset(
            name=name,
            description=str(raw.get("description", "")),
            trials=trials,
            config=SearchConfig.from_dict(raw.get("config", {})),
            sections=sections,
        )
    except AutommError as exc:
        raise AutommError(f"{path}: {exc}") from exc
