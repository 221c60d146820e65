"""The one door to Optuna's private API (``study._storage``, ``trial._trial_id``, ``study._study_id``).

Optuna 5 has no public setter for system attributes, no public way to re-read a running trial or to
fail one whose worker died, and writes each parameter, attribute and intermediate value of a trial in a
transaction of its own; every use of those in automm goes through these functions, so an Optuna
upgrade that changes them is fixed here alone.

On a database storage (SQLite, PostgreSQL, MySQL) the ``*_together`` writers put several values of one
running trial in one transaction (one commit instead of one per value), and inside `writes_held` they
queue them until the block ends, when all go in one transaction; on other storages they write one value
at a time, as Optuna would. Either way the trial object sees the values at once, as after Optuna's own
setter.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Container, Iterator
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
    json_to_distribution,
)
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.dialects import postgresql as sqlalchemy_postgresql
from sqlalchemy.dialects import sqlite as sqlalchemy_sqlite


class TrialsView:
    """A read view of ``study`` whose trials come through ``convert`` (what a wrapped sampler reads); every
    other attribute is the study's own, and writes go to its storage. Optuna's samplers read trials with
    the private ``Study._get_trials``, so the view is here."""

    def __init__(self, study: optuna.Study, convert: Callable[[FrozenTrial], FrozenTrial]) -> None:
        self._study = study
        self._convert = convert

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        return [self._convert(t) for t in self._study._get_trials(deepcopy=False, states=states, use_cache=use_cache)]

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return [self._convert(t) for t in self._study.get_trials(deepcopy=False, states=states)]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


def storage_of(study: optuna.Study) -> BaseStorage:
    return study._storage


def study_id(study: optuna.Study) -> int:
    return study._study_id


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    return trial._trial_id


def study_system_attrs(study: optuna.Study) -> dict[str, Any]:
    return study._storage.get_study_system_attrs(study._study_id)


def study_system_attrs_starting(study: optuna.Study, prefix: str) -> dict[str, Any]:
    """The study system attributes whose key starts with ``prefix``: on a database storage one query of
    those rows alone (the study's attributes also hold optuna-dashboard's figures and notes, tens of
    kilobytes), elsewhere all of them, filtered."""
    database = _database(study)
    if database is None:
        return {k: v for k, v in study_system_attrs(study).items() if k.startswith(prefix)}
    table = models.StudySystemAttributeModel
    with _create_scoped_session(database.scoped_session) as session:
        rows = (
            session.query(table.key, table.value_json)
            .filter(table.study_id == study._study_id, table.key.startswith(prefix, autoescape=True))
            .all()
        )
    return {key: json.loads(value) for key, value in rows}


def study_system_attr(study: optuna.Study, key: str) -> Any:
    """One study system attribute, None if unset: on a database storage one query of that row alone (not
    optuna-dashboard's figures and notes beside it), elsewhere all of them, looked up."""
    database = _database(study)
    if database is None:
        return study_system_attrs(study).get(key)
    table = models.StudySystemAttributeModel
    with _create_scoped_session(database.scoped_session) as session:
        row = session.query(table.value_json).filter(table.study_id == study._study_id, table.key == key).one_or_none()
    return None if row is None else json.loads(row[0])


def set_study_system_attr(study: optuna.Study, key: str, value: Any) -> None:
    study._storage.set_study_system_attr(study._study_id, key, value)


def trial_system_attrs(trial: optuna.Trial | FrozenTrial) -> dict[str, Any]:
    """A trial's system attributes, fresh from storage for a running trial."""
    if isinstance(trial, FrozenTrial):
        return trial.system_attrs
    return trial.study._storage.get_trial_system_attrs(trial._trial_id)


def set_trial_system_attr(trial: optuna.Trial, key: str, value: Any) -> None:
    trial.study._storage.set_trial_system_attr(trial._trial_id, key, value)


def set_frozen_trial_system_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """The same for a running trial a sampler sees frozen (``before_trial``, ``sample_relative``); that
    frozen copy, the running trial's own (`written_system_attr`), holds the value too."""
    study._storage.set_trial_system_attr(trial._trial_id, key, value)
    remember_system_attr(trial, key, value)


def set_frozen_trial_system_attrs(study: optuna.Study, trial: FrozenTrial, attrs: dict[str, Any]) -> None:
    """`set_frozen_trial_system_attr` for each item, in one transaction on a database storage (one query
    of the trial, one statement); one write each elsewhere."""

    def write(database: RDBStorage, session: Any, items: dict[str, Any]) -> None:
        _updatable_trial(database, session, trial._trial_id)
        _upsert(database, session, models.TrialSystemAttributeModel, {"trial_id": trial._trial_id}, items)

    _together(study, attrs, lambda key, value: set_frozen_trial_system_attr(study, trial, key, value), write)
    for key, value in attrs.items():
        remember_system_attr(trial, key, value)


def is_enqueued(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was enqueued with fixed parameters (``study.enqueue_trial``)."""
    return "fixed_params" in trial.system_attrs


def remember_system_attr(trial: FrozenTrial, key: str, value: Any) -> None:
    """Put in a running trial's frozen copy a system attribute Optuna's own code just wrote to storage."""
    trial.system_attrs[key] = value


def written_system_attr(trial: optuna.Trial | FrozenTrial, key: str) -> Any:
    """A system attribute that never changes once written (e.g. a trial's generation): from the trial's
    own frozen copy when it holds it (written through this module, or seen by the sampler), else
    `trial_system_attrs`; None if unwritten."""
    if isinstance(trial, optuna.Trial) and key in trial._cached_frozen_trial.system_attrs:
        return trial._cached_frozen_trial.system_attrs[key]
    return trial_system_attrs(trial).get(key)


def frozen(trial: optuna.Trial) -> FrozenTrial:
    """A running trial as its storage holds it now."""
    return trial.study._storage.get_trial(trial._trial_id)


def fail_running(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Mark a RUNNING trial failed; False when another worker changed its state first."""
    return study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)


@contextmanager
def finished_trials_read_once(
    study: optuna.Study, *, synced: bool = False, finished: FrozenTrial | None = None
) -> Iterator[None]:
    """Within the block, a read of finished trials only (``study.get_trials(states=...)`` with every
    state finished) asks a database storage once: later ones are answered from Optuna's own cache of
    finished trials as it stood after the newest read, so trials other workers finish meanwhile are
    seen from the next block on (or after a read that includes unfinished trials). Finished trials
    never change, so nothing read is stale but the list of which ones exist. A trial's objective runs
    in one block (about a dozen such reads a trial, each loading the running trials in full, before).
    ``synced``: the cache was brought up to date just before the block (`Study.ask` reads every new and
    unfinished trial through it, to find a waiting one), so no read of finished trials asks the storage.
    ``finished``: the trial this process has just finished (what Optuna hands its callbacks); where the
    cache saw no other trial running when it was last brought up to date (this process alone on the
    study, as far as it knows), the trial goes into the cache as finished and nothing is read: a worker
    that joined since and finished a trial meanwhile is seen from the next read on. Otherwise the block's
    first read asks the storage. Journal and in-memory storages, and a block inside a block, read as before."""
    storage = study._storage
    if not isinstance(storage, _CachedStorage) or "get_all_trials" in vars(storage):
        yield
        return
    read = storage.get_all_trials
    synced_ids: set[int] = {study._study_id} if synced and study._study_id in storage._studies else set()
    if finished is not None and _alone_with(storage, study._study_id, finished):
        with storage._lock:
            storage._studies[study._study_id].trials[finished.number] = finished
        synced_ids.add(study._study_id)

    def get_all_trials(
        study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if study_id not in synced_ids or not _finished_only(states):
            trials = read(study_id, deepcopy=deepcopy, states=states)
            synced_ids.add(study_id)
            return trials
        with storage._lock:
            cached = [t for t in storage._studies[study_id].trials.values() if t.state in states]
        cached.sort(key=lambda t: t.number)
        return copy.deepcopy(cached) if deepcopy else cached

    storage.get_all_trials = get_all_trials  # type: ignore[method-assign]
    try:
        yield
    finally:
        del storage.get_all_trials


def _alone_with(storage: _CachedStorage, study_id: int, trial: FrozenTrial) -> bool:
    """Whether Optuna's cache holds ``trial`` (finished now) and, besides it, no running trial."""
    with storage._lock:
        cached = storage._studies.get(study_id)
        if cached is None or trial.number not in cached.trials or not trial.state.is_finished():
            return False
        others = (t for number, t in cached.trials.items() if number != trial.number)
        return not any(t.state == TrialState.RUNNING for t in others)


def _finished_only(states: Container[TrialState] | None) -> bool:
    if states is None or not hasattr(states, "__iter__"):
        return False
    return all(state.is_finished() for state in states)  # type: ignore[attr-defined]


def _database(study: optuna.Study) -> RDBStorage | None:
    """The database storage behind ``study`` (Optuna wraps it in a cache), or None for another kind."""
    storage = getattr(study._storage, "_backend", study._storage)
    return storage if isinstance(storage, RDBStorage) else None


def _together(
    study: optuna.Study,
    items: dict[Any, Any],
    one_by_one: Callable[[Any, Any], None],
    write: Callable[[RDBStorage, Any, dict[Any, Any]], None],
) -> bool:
    """Write ``items`` (of ``study`` or of a running trial of it) with ``write(database, session, items)`` in
    one transaction on a database storage (True), else each with Optuna's own ``one_by_one(key, value)`` (False)."""
    database = _database(study)
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
    if _database(trial.study) is None or trial._trial_id in _HELD:
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
    database = _database(trial.study)
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
    database = _database(trial.study)
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


class TrialReadingRDBStorage(RDBStorage):
    """`RDBStorage` whose trial reads take fewer round trips: a trial's five child tables (parameters,
    values, user and system attributes, intermediate values) come in one ``UNION ALL`` statement, where
    Optuna loads each in a statement of its own. ``get_trial`` (a running trial, read by ``ask``, ``tell``
    and the trial loop) takes 2 statements instead of 6; the cache's ``_get_trials`` (every sync of new
    and unfinished trials) 2 instead of 7 (the study's existence is checked only where no trial is
    found). The trials read are Optuna's, field for field."""

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with _create_scoped_session(self.scoped_session) as session:
            trial = session.query(models.TrialModel).filter(models.TrialModel.trial_id == trial_id).one_or_none()
            if trial is None:
                raise KeyError(models.NOT_FOUND_MSG)
            return _frozen_trials(session, [trial], models.TrialModel.trial_id == trial_id)[0]

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        table = models.TrialModel
        included = {i for i in included_trial_ids if i <= trial_id_greater_than}
        where = [table.study_id == study_id]
        if states is not None:
            where.append(table.state.in_(list(states)))  # type: ignore[call-overload]
        if included and trial_id_greater_than > -1:
            where.append(sqlalchemy.or_(table.trial_id.in_(included), table.trial_id > trial_id_greater_than))
        elif trial_id_greater_than > -1:
            where.append(table.trial_id > trial_id_greater_than)
        with _create_scoped_session(self.scoped_session) as session:
            try:
                trials = session.query(table).filter(*where).order_by(table.trial_id).all()
            except sqlalchemy.exc.OperationalError:  # too many bound variables: Optuna's slower path
                session.rollback()
                trials = None
            if trials is not None:
                if not trials:  # a trial is proof enough that its study exists
                    models.StudyModel.find_or_raise_by_id(study_id, session)  # a missing study raises, as Optuna's
                    return []
                chosen = sqlalchemy.select(table.trial_id).where(*where).scalar_subquery()
                return _frozen_trials(session, trials, table.trial_id.in_(chosen))
        return super()._get_trials(study_id, states, included_trial_ids, trial_id_greater_than)


def _frozen_trials(session: Any, trials: list[Any], which: Any) -> list[FrozenTrial]:
    """``trials`` (rows of Optuna's trials table) as Optuna builds them, their child rows read in one
    statement; ``which``: a condition on the trials table's ``trial_id`` that holds for each of them
    (other trials' rows, e.g. of trials created since, are ignored)."""
    children = {t.trial_id: _Children() for t in trials}
    for kind, owner, number, name, real, text in session.execute(_children_statement(which)):
        found = children.get(owner)
        if found is not None:
            found.add(kind, number, name, real, text)
    return [children[t.trial_id].frozen(t) for t in trials]


_PARAM, _VALUE, _USER, _SYSTEM, _STEP = range(5)


def _children_statement(which: Any) -> Any:
    """One ``UNION ALL`` of the child rows of the trials where ``which`` holds, as (kind, trial id,
    number, name, real, text): parameters (param id, name, internal value, distribution), values
    (objective, type, value), user and system attributes (key, JSON), intermediate values (step, type, value)."""
    trial_id = models.TrialModel.trial_id
    text = sqlalchemy.String()

    def rows(kind: int, model: Any, number: Any, name: Any, real: Any, json_text: Any) -> Any:
        columns = (sqlalchemy.literal(kind), model.trial_id, number, name, real, json_text)
        return sqlalchemy.select(*columns).where(model.trial_id.in_(sqlalchemy.select(trial_id).where(which)))

    param, value, step = models.TrialParamModel, models.TrialValueModel, models.TrialIntermediateValueModel
    user, system = models.TrialUserAttributeModel, models.TrialSystemAttributeModel
    none = sqlalchemy.null()
    return sqlalchemy.union_all(
        rows(_PARAM, param, param.param_id, param.param_name, param.param_value, param.distribution_json),
        rows(_VALUE, value, value.objective, sqlalchemy.cast(value.value_type, text), value.value, none),
        rows(_USER, user, none, user.key, none, user.value_json),
        rows(_SYSTEM, system, none, system.key, none, system.value_json),
        rows(
            _STEP, step, step.step, sqlalchemy.cast(step.intermediate_value_type, text), step.intermediate_value, none
        ),
    )


@dataclass
class _Children:
    """One trial's child rows, gathered from `_children_statement`."""

    params: list[tuple[int, str, float, str]] = field(default_factory=list)
    values: dict[int, float] = field(default_factory=dict)
    user: dict[str, Any] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    steps: dict[int, float] = field(default_factory=dict)

    def add(self, kind: int, number: int | None, name: str, real: float | None, text: str | None) -> None:
        if kind == _PARAM:
            self.params.append((int(number), name, real, text))  # type: ignore[arg-type]
        elif kind == _VALUE:
            value_type = models.TrialValueModel.TrialValueType[name]
            self.values[int(number)] = models.TrialValueModel.stored_repr_to_value(real, value_type)  # type: ignore[arg-type]
        elif kind == _STEP:
            step_type = models.TrialIntermediateValueModel.TrialIntermediateValueType[name]
            model = models.TrialIntermediateValueModel
            self.steps[int(number)] = model.stored_repr_to_intermediate_value(real, step_type)  # type: ignore[arg-type]
        else:
            (self.user if kind == _USER else self.system)[name] = json.loads(text)  # type: ignore[arg-type]

    def frozen(self, trial: Any) -> FrozenTrial:
        """The trial as ``RDBStorage._build_frozen_trial_from_trial_model`` builds it."""
        distributions = {name: json_to_distribution(text) for _, name, _, text in sorted(self.params)}
        values = [self.values[k] for k in range(len(self.values))] if self.values else None
        return FrozenTrial(
            number=trial.number,
            state=trial.state,
            value=None,
            values=values,
            datetime_start=trial.datetime_start,
            datetime_complete=trial.datetime_complete,
            params={name: distributions[name].to_external_repr(real) for _, name, real, _ in sorted(self.params)},
            distributions=distributions,
            user_attrs=self.user,
            system_attrs=self.system,
            intermediate_values=self.steps,
            trial_id=trial.trial_id,
        )
