"""A database storage whose trial reads take fewer statements than Optuna's (`TrialReadingRDBStorage`)."""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy
from optuna.distributions import json_to_distribution
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState


class TrialReadingRDBStorage(RDBStorage):
    """`RDBStorage` whose trial reads take fewer round trips: a trial's five child tables (parameters,
    values, user and system attributes, intermediate values) come in one ``UNION ALL`` statement, where
    Optuna loads each in a statement of its own. ``get_trial`` (a running trial, read by ``ask``, ``tell``
    and the trial loop) takes 2 statements instead of 6; the cache's ``_get_trials`` (every sync of new
    and unfinished trials) 2 instead of 7 (one more a further 500 trials; the study's existence is checked
    only where no trial is found). The trials read are Optuna's, field for field. On databases other than
    SQLite and PostgreSQL (the two it is tested on) it reads as Optuna does."""

    @property
    def _reads_in_one_statement(self) -> bool:
        return self.engine.dialect.name in ("sqlite", "postgresql")

    def get_trial(self, trial_id: int) -> FrozenTrial:
        if not self._reads_in_one_statement:
            return super().get_trial(trial_id)
        with _create_scoped_session(self.scoped_session) as session:
            trial = session.query(models.TrialModel).filter(models.TrialModel.trial_id == trial_id).one_or_none()
            if trial is None:
                raise KeyError(models.NOT_FOUND_MSG)
            return _frozen_trials(session, [trial])[0]

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        if not self._reads_in_one_statement:
            return super()._get_trials(study_id, states, included_trial_ids, trial_id_greater_than)
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
                return _frozen_trials(session, trials)
        return super()._get_trials(study_id, states, included_trial_ids, trial_id_greater_than)


def _frozen_trials(session: Any, trials: list[Any]) -> list[FrozenTrial]:
    """``trials`` (rows of Optuna's trials table) as Optuna builds them, their child rows read in one
    statement a `_CHUNK` of trials."""
    children = {t.trial_id: _Children() for t in trials}
    ids = list(children)
    for start in range(0, len(ids), _CHUNK):
        for kind, owner, number, name, real, text in session.execute(_CHILDREN, {"ids": ids[start : start + _CHUNK]}):
            children[owner].add(kind, number, name, real, text)
    return [children[t.trial_id].frozen(t) for t in trials]


_PARAM, _VALUE, _USER, _SYSTEM, _STEP = range(5)
_CHUNK = 500  # trials whose child rows one statement reads at most (5 x 500 bound ids; Optuna's loads take 500 too)


def _children_statement() -> Any:
    """One ``UNION ALL`` of the child rows of the trials whose ids are bound to ``ids``, as (kind, trial id,
    number, name, real, text): parameters (param id, name, internal value, distribution), values
    (objective, type, value), user and system attributes (key, JSON), intermediate values (step, type, value)."""
    ids = sqlalchemy.bindparam("ids", expanding=True)
    text = sqlalchemy.String()

    def rows(kind: int, model: Any, number: Any, name: Any, real: Any, json_text: Any) -> Any:
        columns = (sqlalchemy.literal(kind), model.trial_id, number, name, real, json_text)
        return sqlalchemy.select(*columns).where(model.trial_id.in_(ids))

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


_CHILDREN = _children_statement()  # built once: a trial's reads run it several times a trial


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
        params = sorted(self.params)  # by parameter id: the order they were suggested in
        distributions = {name: json_to_distribution(text) for _, name, _, text in params}
        values = [self.values[k] for k in range(len(self.values))] if self.values else None
        return FrozenTrial(
            number=trial.number,
            state=trial.state,
            value=None,
            values=values,
            datetime_start=trial.datetime_start,
            datetime_complete=trial.datetime_complete,
            params={name: distributions[name].to_external_repr(real) for _, name, real, _ in params},
            distributions=distributions,
            user_attrs=self.user,
            system_attrs=self.system,
            intermediate_values=self.steps,
            trial_id=trial.trial_id,
        )
