"""`FusionClassifier`: automm as a scikit-learn estimator (``fit``/``predict``/``predict_proba``/``score``).

``fit(X, y)`` runs the search and the delivery a ``automm search`` runs (in a temporary storage unless one is
given) on every row of ``X``: the search's own folds choose the model, so no row is set aside as a test
split. ``X`` is a dict of view arrays (N, d), or a 2-D array (dense or scipy sparse) whose column ranges are
the views, ``views={"image": (0, 1024), "text": (1024, 1324)}`` (start, end), so scikit-learn's splitters and
``Pipeline`` can index it; without ``views`` a 2-D array is one view. Every parameter is explicit in
``__init__`` and stored as given (scikit-learn's rule), so `sklearn.base.clone`, ``get_params`` and
``set_params`` work. Pickling, ``save`` and ``load`` go through the verified export (safetensors and JSON,
checked against its sha256 manifest), never a pickle of weights.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from automm.core.atomic import staged_folder
from automm.core.errors import AutommError
from automm.core.log import get_verbosity, set_verbosity
from automm.data.dataset import MultimodalDataset, Splits
from automm.data.labels import encode_labels
from automm.data.splits import MIN_SAMPLES, split_off
from automm.data.tokens import MASK_SUFFIX
from automm.delivery.loading import FusionModel, load_model
from automm.settings import SearchConfig
from automm.study.study import Study

ESTIMATOR_FILE = "estimator.json"  # beside an export written by `FusionClassifier.save`
ONE_VIEW = "x"  # the view's name when a 2-D array comes without ``views``


class FusionClassifier(ClassifierMixin, BaseEstimator):
    """Search fusion architectures for ``X``'s views and deliver the best model, as a scikit-learn classifier.

    ``time_budget``: seconds or ``"20s"``/``"5m"`` for the search (None: automm's default rule; with
    ``trials``, that many trials); ``method``: ``ksnas``, ``mfas``, ``bmnas``, ``mmnas``, ``tpe``, ``random``,
    ``nsga2``; ``folds``: 0 for automm's fold rule, 1 for one validation split; ``ensemble_size``: greedy
    ensemble rounds (None: the default; 1: the best candidate alone); ``config``: `SearchConfig` fields
    (``{"max_epochs": 30}``); ``settings``: the method's sections (``{"ksnas": {"population_size": 8}}``);
    ``storage`` (an Optuna storage URL) and ``runs_dir`` (its SQLite file and artifacts): where the study is
    kept (both None: a temporary folder, removed after ``fit``); ``jobs``: trials at once; ``verbose``: automm's
    log lines (a line per trial) during ``fit``, else only warnings.
    """

    def __init__(
        self,
        time_budget: float | str | None = "5m",
        *,
        method: str = "ksnas",
        seed: int = 0,
        views: Mapping[str, tuple[int, int]] | None = None,
        trials: int | None = None,
        folds: int = 0,
        ensemble_size: int | None = None,
        config: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        storage: str | None = None,
        runs_dir: str | None = None,
        study_name: str = "fusion-classifier",
        jobs: int = 1,
        verbose: bool = False,
    ) -> None:
        self.time_budget = time_budget
        self.method = method
        self.seed = seed
        self.views = views
        self.trials = trials
        self.folds = folds
        self.ensemble_size = ensemble_size
        self.config = config
        self.settings = settings
        self.storage = storage
        self.runs_dir = runs_dir
        self.study_name = study_name
        self.jobs = jobs
        self.verbose = verbose

    # -- scikit-learn ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> FusionClassifier:
        """Search and deliver on every row of ``X`` (see the class docstring); returns ``self``."""
        if _view_dict(X):
            views = self._views_of(X, fitting=True)
            if y is None:
                raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
            y = np.asarray(y)
        else:
            X, y = validate_data(self, X, y, accept_sparse=True, multi_output=True)
            views = self._views_of(X, fitting=True)
        y = column_or_1d(y, warn=True) if np.ndim(y) == 2 and np.shape(y)[1] == 1 else y
        check_classification_targets(y)
        n = y.shape[0]
        if any(v.shape[0] != n for v in views.values()):
            raise AutommError(f"X has {next(iter(views.values())).shape[0]} rows but y has {n}")
        if n < MIN_SAMPLES:
            raise AutommError(f"n_samples={n}: too few to search and select on; automm needs at least {MIN_SAMPLES}")
        if y.ndim == 1:
            self.classes_, codes = np.unique(y, return_inverse=True)
            labels, task, names = codes.astype(np.int64), "multiclass", [str(c) for c in self.classes_]
        else:
            labels, task, names = encode_labels(np.asarray(y), "y")
            self.classes_ = np.arange(labels.shape[1])
        train, val = split_off(np.arange(n), labels, 0.2, self.seed)
        masks = {k.removesuffix(MASK_SUFFIX): views.pop(k) for k in list(views) if k.endswith(MASK_SUFFIX)}
        dataset = MultimodalDataset(
            name=self.study_name,
            views=views,
            labels=labels,
            task=task,  # type: ignore[arg-type]
            splits=Splits(train=train, val=val, test=np.array([], dtype=np.int64)),
            class_names=names,
            description="FusionClassifier.fit",
            masks=masks,
        )
        level = get_verbosity()
        set_verbosity(logging.INFO if self.verbose else logging.WARNING)
        try:
            self._search_and_deliver(dataset)
        finally:
            set_verbosity(level)
        return self

    def _search_and_deliver(self, dataset: MultimodalDataset) -> None:
        """``automm search``'s search and delivery on ``dataset``; keeps the export (files and loaded model)."""
        with tempfile.TemporaryDirectory(prefix="automm-fit-") as scratch:
            runs = self.runs_dir if self.runs_dir is not None else scratch
            study = Study(
                dataset,
                method=self.method,
                storage=self.storage,
                study_name=self.study_name,
                seed=self.seed,
                config=SearchConfig(**{"folds": self.folds, **dict(self.config or {})}),
                ensemble_size=self.ensemble_size,
                runs_dir=runs,
                **dict(self.settings or {}),
            )
            budget = "none" if self.time_budget is None and self.trials is not None else self.time_budget
            study.optimize(self.trials, time_budget=budget, jobs=self.jobs)
            exported = study.deliver(Path(scratch) / "model", onnx=False)
            self._export_files = {p.name: p.read_bytes() for p in exported.path.iterdir() if p.is_file()}
            self.model_ = load_model(exported.path)
            self.best_score_ = float(study.best_value)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities (N, C): softmax for multiclass, per label for multilabel (columns: ``classes_``)."""
        return self._model().predict_proba(self._views_of(X))

    def predict(self, X: Any) -> np.ndarray:
        """Labels from ``classes_`` (multiclass), or a 0/1 matrix at the export's threshold (multilabel)."""
        model = self._model()
        chosen = model.predict(self._views_of(X))
        return self.classes_[chosen] if model.task == "multiclass" else chosen

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        tags.non_deterministic = False
        return tags

    # -- persistence through the verified export ---------------------------------------------------
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the fitted model's export folder (loadable with `automm.load_model` too) and
        ``estimator.json`` (parameters, ``classes_``, the views' column ranges) to ``path``, whole."""
        check_is_fitted(self, "model_")
        path = Path(path).expanduser()
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise AutommError(f"{path} is not empty; pass overwrite=True to replace it")
        with staged_folder(path) as stage:
            for name, data in self._export_files.items():
                (stage / name).write_bytes(data)
            (stage / ESTIMATOR_FILE).write_text(json.dumps(self._description(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> FusionClassifier:
        """A fitted classifier from a folder `save` wrote (the export verified by `automm.load_model`)."""
        path = Path(path).expanduser()
        try:
            described = json.loads((path / ESTIMATOR_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise AutommError(f"{path}: not a saved FusionClassifier ({ESTIMATOR_FILE}: {exc})") from None
        files = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file() and p.name != ESTIMATOR_FILE}
        return cls._restored(described, files)

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("model_", "_export_files", "classes_")}
        if "model_" in self.__dict__:  # the export's files (bytes), read back verified
            state["_fitted"] = (self._description(), self._export_files)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        fitted = state.pop("_fitted", None)
        self.__dict__.update(state)
        if fitted is not None:
            restored = self._restored(*fitted)
            self.__dict__.update({k: restored.__dict__[k] for k in ("model_", "_export_files", "classes_")})

    # -- helpers ---------------------------------------------------------------------------------
    def _description(self) -> dict[str, Any]:
        return {
            "params": {k: v for k, v in self.get_params().items() if _jsonable(v)},
            "classes": self.classes_.tolist(),
            "views": {k: list(v) for k, v in self.views_.items()} if self.views_ is not None else None,
            "n_features_in": getattr(self, "n_features_in_", None),
            "best_score": getattr(self, "best_score_", None),
        }

    @classmethod
    def _restored(cls, described: dict[str, Any], files: dict[str, bytes]) -> FusionClassifier:
        params = dict(described.get("params", {}))
        if isinstance(params.get("views"), dict):  # JSON keeps (start, end) as a list
            params["views"] = {k: tuple(v) for k, v in params["views"].items()}
        new = cls(**params)
        with tempfile.TemporaryDirectory(prefix="automm-load-") as folder:
            for name, data in files.items():
                if Path(name).name != name:
                    raise AutommError(f"a saved FusionClassifier holds a file of another folder: {name!r}")
                (Path(folder) / name).write_bytes(data)
            new.model_ = load_model(folder)  # every file checked against the manifest's sha256
        new._export_files = files
        new.classes_ = np.asarray(described["classes"])
        views = described.get("views")
        new.views_ = None if views is None else {k: tuple(v) for k, v in views.items()}
        if described.get("n_features_in") is not None:
            new.n_features_in_ = int(described["n_features_in"])
        if described.get("best_score") is not None:
            new.best_score_ = float(described["best_score"])
        return new

    def _model(self) -> FusionModel:
        check_is_fitted(self, "model_")
        return self.model_

    def _views_of(self, X: Any, fitting: bool = False) -> dict[str, np.ndarray]:
        """``X``'s views by name; a 2-D array is cut into the column ranges of ``views`` (fit: checked and kept
        as ``views_``)."""
        if _view_dict(X):
            if fitting:
                self.views_ = None
                if hasattr(self, "n_features_in_"):
                    del self.n_features_in_
            elif getattr(self, "views_", None) is not None:
                raise AutommError("this classifier was fitted on a 2-D array; give X the same way")
            out = {str(k): np.asarray(v) for k, v in X.items()}
            if not out:
                raise AutommError("X has no views")
            return {k: v if v.dtype == bool else v.astype(np.float32) for k, v in out.items()}
        if not fitting:
            X = validate_data(self, X, reset=False, accept_sparse=True) if getattr(self, "views_", None) else X
            if getattr(self, "views_", None) is None:
                raise AutommError("this classifier was fitted on a dict of views; give X the same way")
        matrix = (X.toarray() if scipy.sparse.issparse(X) else np.asarray(X)).astype(np.float32)
        if fitting:
            self.views_ = _column_ranges(self.views, matrix.shape[1])
        return {name: matrix[:, start:end] for name, (start, end) in self.views_.items()}


def _view_dict(X: Any) -> bool:
    """Whether ``X`` is a dict of view arrays (scipy's DOK matrix is a dict too, of cells)."""
    return isinstance(X, Mapping) and not scipy.sparse.issparse(X)


def _column_ranges(views: Mapping[str, tuple[int, int]] | None, width: int) -> dict[str, tuple[int, int]]:
    """``views`` checked against ``width`` columns (None: one view of every column)."""
    if views is None:
        return {ONE_VIEW: (0, width)}
    if not views:
        raise AutommError("views must name at least one view")
    out = {}
    for name, span in views.items():
        try:
            start, end = (int(s) for s in span)
        except (TypeError, ValueError):
            raise AutommError(f"views[{name!r}] must be (start, end) column indices, got {span!r}") from None
        if not 0 <= start < end <= width:
            raise AutommError(f"views[{name!r}] = ({start}, {end}) is not a column range of X's {width} columns")
        out[str(name)] = (start, end)
    return out


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True
