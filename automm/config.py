"""`SearchConfig` (space, model and training settings) and the presets in `studies/`."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from automm.errors import AutommError
from automm.knowledge import KnowledgeSettings
from automm.samplers.ksnas import KSNASSettings
from automm.space import OPS
from automm.training import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class SearchConfig:
    """Everything that fixes how a genotype is built and trained (stored with the study)."""

    fusion_dim: int = 256
    max_views: int = 4
    ops: tuple[str, ...] = OPS
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 10
    threshold: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        checks = {
            "fusion_dim": self.fusion_dim >= 1,
            "max_views": self.max_views >= 1,
            "dropout": 0 <= self.dropout < 1,
            "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0,
            "batch_size": self.batch_size >= 1,
            "max_epochs": self.max_epochs >= 1,
            "patience": self.patience >= 1,
            "threshold": 0 < self.threshold < 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise AutommError(f"invalid setting {bad[0]}={getattr(self, bad[0])!r}")
        unknown = [op for op in self.ops if op not in OPS]
        if unknown or not self.ops:
            raise AutommError(f"unknown fusion operator(s) {unknown}; known: {', '.join(OPS)}")

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            threshold=self.threshold,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ops"] = list(self.ops)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise AutommError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def updated(self, **overrides: Any) -> SearchConfig:
        """A copy with the non-None ``overrides`` applied."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class Preset:
    """A data set's default settings, read from ``studies/<name>.toml``."""

    name: str
    description: str
    trials: int  # default trial count for samplers without generations
    config: SearchConfig
    ksnas: KSNASSettings = field(default_factory=KSNASSettings)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)


def studies_dir() -> Path:
    """Where presets live: inside an installed wheel, or the repository's `studies/`."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_studies", here.parent / "studies"):
        if candidate.is_dir():
            return candidate
    return here.parent / "studies"


def load_preset(name: str) -> Preset:
    """The preset for data set ``name``; defaults when there is none."""
    path = studies_dir() / f"{name}.toml"
    if not path.is_file():
        return Preset(name, "no preset: defaults", 30, SearchConfig())
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AutommError(f"{path}: invalid TOML ({exc})") from exc
    try:
        return Preset(
            name=name,
            description=str(raw.get("description", "")),
            trials=int(raw.get("trials", 30)),
            config=SearchConfig.from_dict(raw.get("config", {})),
            ksnas=KSNASSettings(**raw.get("ksnas", {})),
            knowledge=KnowledgeSettings(**raw.get("knowledge", {})),
        )
    except TypeError as exc:
        raise AutommError(f"{path}: unknown setting ({exc})") from exc
