"""Several values of one running trial (or of its study) written in one transaction on a database storage.

Optuna writes each parameter, attribute and intermediate value of a trial in a transaction of its own. On
a database storage (SQLite, PostgreSQL, MySQL) the ``*_together`` writers put several in one transaction
(one commit instead of one per value), and inside `writes_held` they queue them until the block ends, when
all go in one transaction; on other storages they write one value at a time, as Optuna would. Either way
the trial object sees the values at once, as after Optuna's own setter.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import optuna
import sqlalchemy
from optuna.artifacts._upload import ARTIFACTS_ATTR_PREFIX, ArtifactMeta
from optuna.distributions import (
    BaseDistribution,
    check_distribution_compatibility,
    distribution_to_json,
)
from optuna.storages import RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial
from sqlalchemy.dialects import postgresql as sqlalchemy_postgresql
from sqlalchemy.dialects import sqlite as sqlalchemy_sqlite

from automm.store.optuna_internals.access import (
    database_of,
    remember_system_attr,
    set_frozen_trial_system_attr,
    set_study_system_attr,
    set_trial_system_attr,
)


def set_frozen_trial_system_attrs(study: optuna.Study, trial: FrozenTrial, attrs: dict[str, Any]) -> None:
    """`set_frozen_trial_system_attr` for each item, in one transaction on a database storage (one query
    of the trial, one statement); one write each elsewhere."""

    def write(database: RDBStorage, session: Any, items: dict[str, Any]) -> None:
        _updatable_trial(database, session, trial._trial_id)
        _upsert(database, session, models.TrialSystemAttributeModel, {"trial_id": trial._trial_id}, items)

    if _together(study, attrs, lambda key, value: set_frozen_trial_system_attr(study, trial, key, value), write):
        for key, value in attrs.items():  # one by one, `set_frozen_trial_system_attr` remembered each
            remember_system_attr(trial, key, value)


def _together(
    study: optuna.Study,
    items: dict[Any, Any],
    one_by_one: Callable[[Any, Any], None],
    write: Callable[[RDBStorage, Any, dict[Any, Any]], None],
) -> bool:
    """Write ``items`` (of ``study`` or of a running trial of it) with ``write(database, session, items)`` in
    one transaction on a database storage (True), else each with Optuna's own ``one_by_one(key, value)`` (False)."""
    database = database_of(study)
    if database is None or len(items) < 2:
        for key, value in items.items():
            one_by_one(key, value)
        return False
    with _create_scoped_session(database.scoped_session, True) as session:
        write(database, session, items)
    return True


def _updatable_trial(database: RDBStorage, session: Any, trial_id: int) -> None:
    """Raise as Optuna's setters do when the trial is gone or finished (one query, of its state alone)."""
    table = models.TrialModel
    state = session.execute(sqlalchemy.select(table.state).where(table.trial_id == trial_id)).scalar_one_or_none()
    if state is None:
        raise KeyError(models.NOT_FOUND_MSG)
    database.check_trial_is_updatable(trial_id, state)


def _upsert(database: RDBStorage, session: Any, model: Any, owner: dict[str, int], values: dict[str, Any]) -> None:
    """Insert or overwrite the ``key -> value`` rows of an attribute table (``owner``: its study or trial
    id column): on PostgreSQL and SQLite one statement run with every row (compiled once per table, so
    SQLAlchemy reuses it), one row at a time elsewhere."""
    rows = [{**owner, "key": key, "value_json": json.dumps(value)} for key, value in values.items()]
    statement = _upsert_statement(database.engine.name, model, next(iter(owner)))
    if statement is not None:
        session.execute(statement, rows)
        return
    for row in rows:  # MySQL and others: what Optuna's own setters do, row by row
        filters = {name: row[name] for name in (*owner, "key")}
        found = session.query(model).filter_by(**filters).one_or_none()
        if found is None:
            session.add(model(**row))
        else:
            found.value_json = row["value_json"]


@functools.cache
def _upsert_statement(dialect_name: str, model: Any, owner_column: str) -> Any:
    """INSERT ... ON CONFLICT (owner, key) DO UPDATE of ``model``'s value, on PostgreSQL and SQLite; else None."""
    dialect = {"postgresql": sqlalchemy_postgresql, "sqlite": sqlalchemy_sqlite}.get(dialect_name)
    if dialect is None:
        return None
    table = model.__table__  # a Core statement: the ORM's bulk-insert machinery would cost more than the rows
    statement = dialect.insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[owner_column], table.c.key],
        set_={"value_json": statement.excluded.value_json},
    )


@dataclass
class _Held:
    """A running trial's writes queued by `writes_held`."""

    user: dict[str, Any] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    steps: dict[int, float] = field(default_factory=dict)
    study_system: dict[str, Any] = field(default_factory=dict)
    params: dict[str, tuple[float, BaseDistribution, bool]] = field(default_factory=dict)  # see `_add_params`


_HELD: dict[int, _Held] = {}  # trial id -> its queued writes, inside `writes_held`


@contextmanager
def writes_held(trial: optuna.Trial) -> Iterator[None]:
    """Within the block, ``trial``'s writes through this module's ``*_together`` writers (and study system
    attributes written with it, ``set_study_system_attrs_together(..., trial=trial)``) are queued, and
    on leaving it, error or not, written in one transaction on a database storage. The trial object sees
    each value at once, as after Optuna's own setter; other workers see them when the block ends. Other
    storages, and a block inside a block, write as before."""
    if database_of(trial.study) is None or trial._trial_id in _HELD:
        yield
        return
    held = _HELD[trial._trial_id] = _Held()
    try:
        yield
    finally:
        del _HELD[trial._trial_id]
        _write_held(trial, held)


def _write_held(trial: optuna.Trial, held: _Held) -> None:
    if not (held.user or held.system or held.steps or held.study_system or held.params):
        return
    database = database_of(trial.study)
    assert database is not None
    with _create_scoped_session(database.scoped_session, True) as session:
        _updatable_trial(database, session, trial._trial_id)
        _add_params(database, session, trial._trial_id, held.params)
        owner = {"trial_id": trial._trial_id}
        if held.user:
            _upsert(database, session, models.TrialUserAttributeModel, owner, held.user)
        if held.system:
            _upsert(database, session, models.TrialSystemAttributeModel, owner, held.system)
        _add_steps(session, trial._trial_id, held.steps)
        if held.study_system:
            study = {"study_id": trial.study._study_id}
            _upsert(database, session, models.StudySystemAttributeModel, study, held.study_system)


def _add_params(
    database: RDBStorage, session: Any, trial_id: int, params: dict[str, tuple[float, BaseDistribution, bool]]
) -> None:
    """Parameter rows ``name -> (internal value, distribution, checked)``: ``checked``, the distribution
    was checked against the study's (the cached storage knew it); else Optuna's own check (one query)."""
    rows = []
    for name, (internal, dist, checked) in params.items():
        if not checked:
            database._set_trial_param_without_commit(session, trial_id, name, internal, dist)
            continue
        row = {"trial_id": trial_id, "param_name": name, "param_value": internal}
        rows.append({**row, "distribution_json": distribution_to_json(dist)})
    _insert(session, models.TrialParamModel, rows)


def _add_steps(session: Any, trial_id: int, steps: dict[int, float]) -> None:
    """Intermediate values of steps not stored yet (only the trial's own worker reports them)."""
    table = models.TrialIntermediateValueModel
    rows = []
    for step, value in steps.items():
        stored_value, value_type = table.intermediate_value_to_stored_repr(value)
        row = {"trial_id": trial_id, "step": step, "intermediate_value": stored_value}
        rows.append({**row, "intermediate_value_type": value_type})
    _insert(session, table, rows)


def _insert(session: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    """New rows of ``model``'s table in one Core statement run with every row (not the ORM's unit of work)."""
    if rows:
        session.execute(model.__table__.insert(), rows)


def set_user_attrs_together(trial: optuna.Trial, attrs: dict[str, Any]) -> None:
    """``trial.set_user_attr`` for each item, in one transaction on a database storage."""
    set_attrs_together(trial, user=attrs)


def set_attrs_together(
    trial: optuna.Trial, user: dict[str, Any] | None = None, system: dict[str, Any] | None = None
) -> None:
    """User attributes ``user`` and system attributes ``system`` of a running trial, in one transaction
    on a database storage (one query of the trial and one statement a table; else one write each, as
    Optuna's own setters)."""
    items = {("user", k): v for k, v in (user or {}).items()} | {("system", k): v for k, v in (system or {}).items()}
    tables = {"user": models.TrialUserAttributeModel, "system": models.TrialSystemAttributeModel}

    def one_by_one(kind_key: tuple[str, str], value: Any) -> None:
        kind, key = kind_key
        if kind == "user":
            trial.set_user_attr(key, value)
        else:
            set_trial_system_attr(trial, key, value)

    def write(database: RDBStorage, session: Any, items: dict[tuple[str, str], Any]) -> None:
        _updatable_trial(database, session, trial._trial_id)
        for kind, table in tables.items():
            values = {key: value for (which, key), value in items.items() if which == kind}
            if values:
                _upsert(database, session, table, {"trial_id": trial._trial_id}, values)

    held = _HELD.get(trial._trial_id)
    if held is not None:
        held.user.update(user or {})
        held.system.update(system or {})
    if held is not None or _together(trial.study, items, one_by_one, write):
        trial._cached_frozen_trial.user_attrs.update(user or {})
    trial._cached_frozen_trial.system_attrs.update(system or {})


def set_study_system_attrs_together(
    study: optuna.Study, attrs: dict[str, Any], *, trial: optuna.Trial | None = None
) -> None:
    """``set_study_system_attr`` for each item, in one transaction (one statement on PostgreSQL and
    SQLite) on a database storage; one write each elsewhere. With a running ``trial`` of ``study`` inside
    `writes_held`, queued with the trial's writes."""
    if trial is not None and trial._trial_id in _HELD:
        _HELD[trial._trial_id].study_system.update(attrs)
        return

    def write(database: RDBStorage, session: Any, items: dict[str, Any]) -> None:
        models.StudyModel.find_or_raise_by_id(study._study_id, session)
        _upsert(database, session, models.StudySystemAttributeModel, {"study_id": study._study_id}, items)

    _together(study, attrs, lambda key, value: set_study_system_attr(study, key, value), write)


def artifact_listing(artifact_id: str, filename: str, mimetype: str) -> dict[str, str]:
    """The system attribute by which Optuna (and optuna-dashboard) lists an artifact of a trial or study,
    as ``optuna.artifacts.upload_artifact`` writes it: for a caller that stores the bytes itself and
    writes the listing with its other attributes (`set_attrs_together`)."""
    meta = ArtifactMeta(artifact_id=artifact_id, filename=filename, mimetype=mimetype, encoding=None)
    return {ARTIFACTS_ATTR_PREFIX + artifact_id: json.dumps(asdict(meta))}


def report_together(trial: optuna.Trial, values: dict[int, float]) -> None:
    """``trial.report(value, step)`` for each step not reported yet, in one transaction on a database
    storage; for a study whose pruner never reads them before the trial ends (no pruning)."""
    reported = trial._cached_frozen_trial.intermediate_values
    fresh = {int(step): float(v) for step, v in values.items() if step not in reported}
    held = _HELD.get(trial._trial_id)
    if held is not None:
        held.steps.update(fresh)
        reported.update(fresh)
        return

    def write(database: RDBStorage, session: Any, items: dict[int, float]) -> None:
        _updatable_trial(database, session, trial._trial_id)
        _add_steps(session, trial._trial_id, items)

    if _together(trial.study, fresh, lambda step, value: trial.report(value, step), write):
        reported.update(fresh)


def suggest_together(trial: optuna.Trial, distributions: dict[str, BaseDistribution]) -> dict[str, Any] | None:
    """Every parameter of ``distributions``, each enqueued (fixed) or from the sampler's relative proposal,
    written in one transaction (one query of the trial, one row a parameter; queued inside `writes_held`),
    as ``trial.suggest_*`` would write them one by one; None (nothing written) unless the storage is a
    database and each parameter is fixed to a value of its distribution or proposed, none suggested before."""
    database = database_of(trial.study)
    cached = trial._cached_frozen_trial
    if database is None or len(distributions) < 2 or any(name in cached.distributions for name in distributions):
        return None
    params = {}
    for name, dist in distributions.items():
        if name in trial._fixed_params:
            value = trial._fixed_params[name]
            if not dist._contains(dist.to_internal_repr(value)):
                return None  # Optuna's own suggest warns about it
            params[name] = value
        elif trial._is_relative_param(name, dist):
            params[name] = trial.relative_params[name]
        else:
            return None
    storage = trial.study._storage
    known = storage._studies[trial.study._study_id].param_distribution if isinstance(storage, _CachedStorage) else {}
    rows = {}
    for name, dist in distributions.items():
        if name in known:
            check_distribution_compatibility(known[name], dist)
        rows[name] = (dist.to_internal_repr(params[name]), dist, name in known)
    held = _HELD.get(trial._trial_id)
    if held is not None:
        held.params.update(rows)
    else:

        def write(database: RDBStorage, session: Any, items: dict[str, Any]) -> None:
            _updatable_trial(database, session, trial._trial_id)
            _add_params(database, session, trial._trial_id, items)

        _together(trial.study, rows, lambda name, row: None, write)
    for name, dist in distributions.items():
        known.setdefault(name, dist)
        cached.distributions[name] = dist
        cached.params[name] = params[name]
    return params
