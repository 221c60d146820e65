"""What a study stores about itself (``meta``), and how a resumed study is checked against a request.

``meta`` holds the data source, ``seed``, ``sampler`` (the method's name), ``pruner``, ``config``
(a `SearchConfig`), ``minimize_params``, ``preset_trials``, ``views`` and one entry per section
of the method's settings. A new study takes the data set's preset, then the request; a
resumed one takes what it stored and refuses a request that contradicts it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import optuna

from automm.core.errors import AutommError, option
from automm.data.dataset import MultimodalDataset
from automm.data.file_checks import checked_path
from automm.data.registry import DATASETS
from automm.methods import DEFAULT_METHOD, SearchMethod, method_class
from automm.settings import LEGACY_CONFIG, load_preset

COMMON = ("seed", "sampler", "pruner", "config", "minimize_params")  # stored settings every method has
PRUNERS = ("none", "median")


def data_source(
    dataset: str | MultimodalDataset | None, data: str | Path | None, views: list[str] | None = None
) -> tuple[str, dict[str, Any]]:
    """(default study name, stored source) of a registered name, an in-memory data set or a file;
    ``views``: names given to the views, in order (None: the source's own)."""
    if isinstance(dataset, MultimodalDataset):
        if views is not None:
            raise AutommError(f"name the views of an in-memory data set in its views dict, not with {option('views')}")
        return dataset.name, {"dataset": dataset.name, "data": None, "in_memory": True}
    extra = {} if views is None else {"views": list(views)}
    if data is not None:
        path = checked_path(data, folder=Path(data).expanduser().is_dir()).resolve()
        name = re.sub(r"[^\w.+=-]+", "_", path.stem if path.is_file() else path.name).lstrip("._") or "data"
        return name, {"dataset": None, "data": str(path), "in_memory": False, **extra}
    name = (dataset or "digits").lower()
    if name not in DATASETS:
        raise AutommError(f"unknown data set {name!r}; known: {', '.join(DATASETS)} (or pass {option('data', 'FILE')})")
    return name, {"dataset": name, "data": None, "in_memory": False, **extra}


def check_views(study_name: str, meta: dict[str, Any], views: dict[str, int]) -> None:
    """Refuse data whose views differ from those the study was created for; record them in ``meta``."""
    if "views" in meta and meta["views"] != views:
        raise AutommError(
            f"study {study_name!r} was created for views {', '.join(meta['views'])}, but the data now has "
            f"{', '.join(views)} (another release, extractor or file?); choose another {option('study_name')}"
        )
    meta["views"] = views


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    raise AutommError(f"unknown pruner {name!r}; known: {', '.join(PRUNERS)}")


def new_meta(
    name: str, requested: dict[str, Any], overrides: dict[str, Any], options: dict[str, Any] | None = None
) -> tuple[type[SearchMethod], dict]:
    """(method class, meta) of a new study; ``name`` picks the preset; ``options`` are CLI option values."""
    cls = method_class(requested["sampler"] or DEFAULT_METHOD)
    overrides = _plain(cls, overrides, options)
    if _given(requested.get("config_fields")).get("ops") is not None and not cls.uses_ops:
        raise AutommError(f"--ops (fusion operators) does not apply to method {cls.name}")
    preset = load_preset(name)
    meta = {
        "source": requested["source"],
        "seed": 0 if requested["seed"] is None else requested["seed"],
        "sampler": cls.name,
        "pruner": requested["pruner"] or "none",
        "config": {**(requested["config"] or preset.config.to_dict()), **_given(requested.get("config_fields"))},
        "minimize_params": bool(requested["minimize_params"]),
        "preset_trials": preset.trials,
        **{k: _merged(v, overrides.get(k)) for k, v in cls.default_settings(preset).items()},
    }
    return cls, meta


def resumed_meta(
    study_name: str,
    stored: dict[str, Any],
    requested: dict[str, Any],
    overrides: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> tuple[type[SearchMethod], dict]:
    """(method class, meta) of a stored study; a contradicting request raises `AutommError`."""
    if requested["sampler"] is not None:
        method_class(requested["sampler"])  # an unknown name is that, not a contradiction
    cls = method_class(stored["sampler"])
    overrides = _plain(cls, overrides, options)
    meta = dict(stored)
    meta["config"] = {**LEGACY_CONFIG, **stored["config"]}
    preset = load_preset(str(stored["source"]["dataset"] or study_name))
    meta.update(cls.legacy_settings(meta, preset))
    _check_resume(study_name, meta, requested, overrides)
    return cls, meta


def _given(fields: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (fields or {}).items() if v is not None}


def _plain(cls: type[SearchMethod], overrides: dict[str, Any], options: dict[str, Any] | None) -> dict[str, Any]:
    """The overrides as stored (dataclasses become dicts, None dropped, option values merged in);
    sections the method lacks raise."""
    out = {k: asdict(v) if is_dataclass(v) and not isinstance(v, type) else v for k, v in overrides.items()}
    out = {k: v for k, v in out.items() if v is not None}
    for section, value in cls.sections_from_options(options or {}).items():
        out[section] = _merged(out.get(section), value) if isinstance(value, dict) else value
    unknown = sorted(set(out) - set(cls.sections))
    if unknown:
        own = ", ".join(cls.sections) or "none"
        raise AutommError(f"{', '.join(unknown)} settings do not apply to method {cls.name} (its settings: {own})")
    return out


def _merged(default: Any, override: Any) -> Any:
    if override is None:
        return default
    if default is None:
        return override
    return {**default, **override} if isinstance(default, dict) and isinstance(override, dict) else override


def _check_resume(name: str, stored: dict[str, Any], requested: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Refuse to resume a study with settings that contradict the stored ones."""
    src, req = stored["source"], requested["source"]
    if (src["dataset"], src["data"]) != (req["dataset"], req["data"]):
        what = src["dataset"] or src["data"]
        raise AutommError(f"study {name!r} was created for data {what!r}; choose another {option('study_name')}")
    if "views" in req and req["views"] != src.get("views"):
        named = ", ".join(src.get("views") or []) or "the data's own names"
        raise AutommError(f"study {name!r} was created with views named {named}; resume it without {option('views')}")
    for key, value in _given(requested.get("config_fields")).items():
        if stored["config"].get(key) != value:
            raise AutommError(
                f"study {name!r} was created with {key}={stored['config'].get(key)!r}; resume it without changing "
                f"{key}, or choose another {option('study_name')}"
            )
    wanted = {**{k: requested[k] for k in COMMON}, **overrides}
    for key, value in wanted.items():
        if value is None:
            continue
        if _merged(stored.get(key), value) != stored.get(key):
            raise AutommError(
                f"study {name!r} was created with {key}={stored.get(key)!r}; resume it without changing {key}, "
                f"or choose another {option('study_name')}"
            )
