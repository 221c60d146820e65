"""Values written together (one transaction on a database storage) are what Optuna's own setters write:
the storage holds them, the running trial sees them, and other storages get them one at a time."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from automm.store import optuna_internals

SPACE = {"n": IntDistribution(1, 4), "op": CategoricalDistribution(("add", "concat")), "k": IntDistribution(0, 3)}


class Proposing(optuna.samplers.RandomSampler):
    """A relative sampler proposing ``SPACE`` whole, as automm's genotype samplers do."""

    def infer_relative_search_space(self, study, trial):
        return dict(SPACE)

    def sample_relative(self, study, trial, search_space):
        return {"n": 3, "op": "concat", "k": 2} if search_space else {}


def _storage(tmp_path, kind: str):
    if kind == "sqlite":
        return RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    if kind == "journal":
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log")))
    return optuna.storages.InMemoryStorage()


@pytest.fixture(params=["sqlite", "journal", "memory", "postgresql"])
def storage(request, tmp_path):
    """Every kind of storage a study may use (PostgreSQL: a throwaway local server)."""
    if request.param == "postgresql":
        return RDBStorage(request.getfixturevalue("postgres_url"))
    return _storage(tmp_path, request.param)


def _suggest_each(trial) -> dict:
    """Optuna's own way: one suggestion (and one write) per parameter."""
    return {
        name: trial.suggest_int(name, dist.low, dist.high)
        if isinstance(dist, IntDistribution)
        else trial.suggest_categorical(name, dist.choices)
        for name, dist in SPACE.items()
    }


def _commits(storage) -> list[int]:
    """Count database commits of ``storage`` (none for other kinds)."""
    count = [0]
    if isinstance(storage, RDBStorage):
        from sqlalchemy import event

        event.listen(storage.engine, "commit", lambda conn: count.__setitem__(0, count[0] + 1))
    return count


def _written_together(storage, database: bool) -> None:
    study = optuna.create_study(storage=storage, sampler=Proposing(), direction="maximize")
    trial = study.ask()
    commits = _commits(storage)
    params = optuna_internals.suggest_together(trial, SPACE)
    optuna_internals.set_user_attrs_together(trial, {"a": 1, "b": [1, 2], "c": "x"})
    optuna_internals.report_together(trial, {1: 0.5, 2: 0.75, 3: 0.7})
    optuna_internals.set_attrs_together(trial, user={"d": 2.5}, system={"s": {"x": 1}, "t": 3})
    if database:
        assert params == {"n": 3, "op": "concat", "k": 2}
        assert commits[0] == 4  # one transaction each, where Optuna's setters commit twelve times
    else:  # not a database: nothing suggested here; the caller suggests one by one
        assert params is None
        params = _suggest_each(trial)
    # the trial sees them: suggesting again returns the stored values without sampling
    assert _suggest_each(trial) == params
    assert trial.user_attrs == {"a": 1, "b": [1, 2], "c": "x", "d": 2.5}
    assert optuna_internals.trial_system_attrs(trial)["s"] == {"x": 1}
    study.tell(trial, 1.0)
    stored = study.get_trials()[0]
    assert stored.params == params and stored.distributions == SPACE
    assert stored.user_attrs == {"a": 1, "b": [1, 2], "c": "x", "d": 2.5}
    assert stored.system_attrs["s"] == {"x": 1} and stored.system_attrs["t"] == 3
    assert stored.intermediate_values == {1: 0.5, 2: 0.75, 3: 0.7}


def test_values_written_together_are_stored_and_seen_by_the_trial(storage):
    _written_together(storage, database=isinstance(storage, RDBStorage))


def test_an_enqueued_trial_is_suggested_together_with_its_fixed_values(tmp_path):
    storage = _storage(tmp_path, "sqlite")
    study = optuna.create_study(storage=storage, sampler=Proposing())
    study.enqueue_trial({"n": 1, "op": "add", "k": 0})
    trial = study.ask()
    commits = _commits(storage)
    assert optuna_internals.suggest_together(trial, SPACE) == {"n": 1, "op": "add", "k": 0}
    assert commits[0] == 1
    assert _suggest_each(trial) == {"n": 1, "op": "add", "k": 0}  # stored: suggesting again samples nothing
    study.tell(trial, 1.0)
    assert study.get_trials()[0].params == {"n": 1, "op": "add", "k": 0}


def test_an_enqueued_value_outside_its_distribution_is_left_to_optuna(tmp_path):
    study = optuna.create_study(storage=_storage(tmp_path, "sqlite"), sampler=Proposing())
    study.enqueue_trial({"n": 9, "op": "add", "k": 0})
    trial = study.ask()
    assert optuna_internals.suggest_together(trial, SPACE) is None
    assert trial.params == {}  # nothing written; Optuna's own suggest warns about the value


def test_a_step_already_reported_is_not_written_again(tmp_path):
    study = optuna.create_study(storage=_storage(tmp_path, "sqlite"), direction="maximize")
    trial = study.ask()
    trial.report(0.1, 1)
    optuna_internals.report_together(trial, {1: 0.9, 2: 0.2, 3: 0.3})
    study.tell(trial, 1.0)
    assert study.get_trials()[0].intermediate_values == {1: 0.1, 2: 0.2, 3: 0.3}


def _queries(storage) -> list[int]:
    """Count SQL statements ``storage`` executes."""
    from sqlalchemy import event

    count = [0]
    event.listen(storage.engine, "before_cursor_execute", lambda *args: count.__setitem__(0, count[0] + 1))
    return count


def _finish_one(study) -> None:
    trial = study.ask()
    study.tell(trial, 0.5)


def test_finished_trials_are_read_once_per_block_on_a_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    database = RDBStorage(url)
    study = optuna.create_study(storage=database, study_name="s", direction="maximize")
    other = optuna.load_study(study_name="s", storage=RDBStorage(url))  # another worker
    _finish_one(study)
    running = study.ask()
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    queries = _queries(database)
    with optuna_internals.finished_trials_read_once(study):
        first = study.get_trials(deepcopy=False, states=finished)
        asked = queries[0]
        assert asked > 0 and [t.number for t in first] == [0]
        _finish_one(other)  # trial 2, finished by the other worker meanwhile
        again = study.get_trials(deepcopy=False, states=finished)
        assert queries[0] == asked  # answered from the cache: no statement
        assert [t.number for t in again] == [0]  # the other worker's trial: from the next block on
        assert study.get_trials(deepcopy=True, states=(optuna.trial.TrialState.COMPLETE,))[0].number == 0
        # a read that includes unfinished trials goes to the storage, and refreshes the finished ones
        assert {t.number for t in study.get_trials(deepcopy=False)} == {0, 1, 2}
        assert queries[0] > asked
        assert [t.number for t in study.get_trials(deepcopy=False, states=finished)] == [0, 2]
    _finish_one(other)  # trial 3
    assert [t.number for t in study.get_trials(deepcopy=False, states=finished)] == [0, 2, 3]  # read as before
    study.tell(running, 1.0)


def test_a_block_synced_by_ask_reads_no_finished_trials_from_the_database(tmp_path):
    """The objective's block: `Study.ask` has just read every new trial through Optuna's cache, so the
    block's reads of finished trials ask the database nothing, and see what was finished when it asked."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    database = RDBStorage(url)
    study = optuna.create_study(storage=database, study_name="s", direction="maximize")
    other = optuna.load_study(study_name="s", storage=RDBStorage(url))  # another worker
    _finish_one(study)
    _finish_one(other)  # trial 1: this worker has not read it yet
    running = study.ask()  # trial 2; its ask reads trial 1
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    queries = _queries(database)
    with optuna_internals.finished_trials_read_once(study, synced=True):
        assert [t.number for t in study.get_trials(deepcopy=False, states=finished)] == [0, 1]
        _finish_one(other)  # trial 3, finished meanwhile: from the next block on
        assert [t.number for t in study.get_trials(deepcopy=False, states=finished)] == [0, 1]
        assert queries[0] == 0
    study.tell(running, 1.0)
    with optuna_internals.finished_trials_read_once(study):  # not synced: its first read asks
        assert [t.number for t in study.get_trials(deepcopy=False, states=finished)] == [0, 1, 2, 3]
    assert queries[0] > 0


def _finished_now(study, value: float):
    """Run one trial to its end as Optuna's loop does; the frozen trial its callbacks get."""
    trial = study.ask()
    study.tell(trial, value)
    return optuna_internals.storage_of(study).get_trial(optuna_internals.trial_id(trial))


def test_callbacks_of_a_worker_alone_read_nothing_and_see_its_trial_finished(tmp_path):
    database = RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    study = optuna.create_study(storage=database, direction="maximize")
    _finish_one(study)
    just = _finished_now(study, 0.9)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    queries = _queries(database)
    with optuna_internals.finished_trials_read_once(study, finished=just):
        seen = study.get_trials(deepcopy=False, states=finished)
    assert queries[0] == 0
    assert [(t.number, t.state, t.value) for t in seen] == [
        (0, optuna.trial.TrialState.COMPLETE, 0.5),
        (1, optuna.trial.TrialState.COMPLETE, 0.9),
    ]
    assert [t.number for t in study.get_trials(deepcopy=False, states=finished)] == [0, 1]  # the storage agrees


def test_callbacks_read_the_storage_where_another_workers_trial_was_running(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    database = RDBStorage(url)
    study = optuna.create_study(storage=database, study_name="s", direction="maximize")
    other = optuna.load_study(study_name="s", storage=RDBStorage(url))  # another worker
    theirs = other.ask()  # trial 0, running when this worker asks
    mine = study.ask()  # trial 1; its ask sees trial 0 running
    other.tell(theirs, 0.1)
    study.tell(mine, 0.9)
    just = optuna_internals.storage_of(study).get_trial(optuna_internals.trial_id(mine))
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    queries = _queries(database)
    with optuna_internals.finished_trials_read_once(study, finished=just):
        seen = study.get_trials(deepcopy=False, states=finished)
    assert queries[0] > 0
    assert [t.number for t in seen] == [0, 1]  # the other worker's trial, finished meanwhile, is counted


@pytest.mark.parametrize("kind", ["journal", "memory"])
def test_other_storages_read_as_before_inside_the_block(tmp_path, kind):
    study = optuna.create_study(storage=_storage(tmp_path, kind), direction="maximize")
    _finish_one(study)
    with optuna_internals.finished_trials_read_once(study):
        assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 1
        _finish_one(study)
        assert len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 2


def test_a_block_inside_a_block_keeps_the_outer_one(tmp_path):
    study = optuna.create_study(storage=_storage(tmp_path, "sqlite"), direction="maximize")
    storage = optuna_internals.storage_of(study)
    with optuna_internals.finished_trials_read_once(study):
        patched = storage.get_all_trials
        with optuna_internals.finished_trials_read_once(study):
            assert storage.get_all_trials is patched
        assert storage.get_all_trials is patched
    assert "get_all_trials" not in vars(storage)  # Optuna's own method again


def _held_writes(storage, database: bool) -> None:
    study = optuna.create_study(storage=storage, direction="maximize")
    trial = study.ask()
    commits = _commits(storage)
    before = 0
    with optuna_internals.writes_held(trial):
        optuna_internals.set_user_attrs_together(trial, {"a": 1})
        optuna_internals.set_attrs_together(trial, user={"b": 2}, system={"s": 3})
        optuna_internals.report_together(trial, {1: 0.5, 2: 0.75})
        optuna_internals.set_study_system_attrs_together(study, {"note:0": "x", "note:1": "y"}, trial=trial)
        assert trial.user_attrs == {"a": 1, "b": 2}  # the trial sees each value at once
        if database:
            assert commits[0] == 0  # nothing written yet
            assert study.get_trials()[0].user_attrs == {}  # other readers see nothing yet
            before = commits[0]  # (a read may commit too)
    if database:
        assert commits[0] == before + 1  # all in one transaction
    study.tell(trial, 1.0)
    stored = study.get_trials()[0]
    assert stored.user_attrs == {"a": 1, "b": 2} and stored.system_attrs["s"] == 3
    assert stored.intermediate_values == {1: 0.5, 2: 0.75}
    assert {k: v for k, v in optuna_internals.study_system_attrs(study).items() if k.startswith("note:")} == {
        "note:0": "x",
        "note:1": "y",
    }


def test_held_writes_are_written_in_one_transaction_when_the_block_ends(storage):
    _held_writes(storage, database=isinstance(storage, RDBStorage))


def test_held_writes_are_written_when_the_block_is_left_by_an_error(tmp_path):
    study = optuna.create_study(storage=_storage(tmp_path, "sqlite"))
    trial = study.ask()
    with pytest.raises(KeyboardInterrupt), optuna_internals.writes_held(trial):
        optuna_internals.set_user_attrs_together(trial, {"genotype": "concat(a,b)", "folds": 5})
        raise KeyboardInterrupt
    assert study.get_trials()[0].user_attrs == {"genotype": "concat(a,b)", "folds": 5}


def test_a_held_write_to_a_finished_trial_is_refused(tmp_path):
    study = optuna.create_study(storage=_storage(tmp_path, "sqlite"))
    trial = study.ask()
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError), optuna_internals.writes_held(trial):
        optuna_internals.set_user_attrs_together(trial, {"a": 1})
        optuna_internals.fail_running(study, optuna_internals.frozen(trial))  # e.g. failed as stale meanwhile


def _study_attrs(storage) -> None:
    study = optuna.create_study(storage=storage)
    study_id = optuna_internals.study_id(study)
    storage.set_study_system_attr(study_id, "kb:1", {"v": 1})
    commits = _commits(storage)
    optuna_internals.set_study_system_attrs_together(study, {"kb:1": {"v": 2}, "kb:2": [2], "kb_x%:3": "z"})
    if isinstance(storage, RDBStorage):
        assert commits[0] == 1
    assert optuna_internals.study_system_attrs(study) == {"kb:1": {"v": 2}, "kb:2": [2], "kb_x%:3": "z"}
    # a prefix is matched literally: "_" and "%" are not wildcards
    assert optuna_internals.study_system_attrs_starting(study, "kb:") == {"kb:1": {"v": 2}, "kb:2": [2]}
    assert optuna_internals.study_system_attrs_starting(study, "kb_x%") == {"kb_x%:3": "z"}
    assert optuna_internals.study_system_attrs_starting(study, "kbx") == {}


def test_study_attributes_written_together_and_read_by_prefix(storage):
    _study_attrs(storage)


def test_an_artifact_listed_by_its_attribute_is_listed_by_optuna(tmp_path):
    study = optuna.create_study(storage=_storage(tmp_path, "sqlite"))
    trial = study.ask()
    optuna_internals.set_attrs_together(
        trial, system=optuna_internals.artifact_listing("abc", "d.svg", "image/svg+xml")
    )
    [meta] = optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)
    assert (meta.artifact_id, meta.filename, meta.mimetype) == ("abc", "d.svg", "image/svg+xml")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A SQLite file, or a database on a throwaway local PostgreSQL server."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


def _trials_of_every_shape(storage) -> optuna.Study:
    """A multi-objective study holding a trial of each state, with parameters of several distributions,
    values and intermediate values finite, infinite and NaN, and JSON attributes of several types."""
    from optuna.distributions import FloatDistribution

    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    study.enqueue_trial({"x": 0.5})  # the first trial asked takes its value
    for n in range(3):
        trial = study.ask()
        trial.suggest_float("x", 1e-3, 1.0, log=True)
        trial.suggest_int("n", 1, 9, step=2)
        trial.suggest_categorical("op", ["add", None, 3])
        trial.set_user_attr("curve", [0.5, n, None])
        trial.set_user_attr("note", {"a": "b"})
        optuna_internals.set_trial_system_attr(trial, "generation", n)
        for step, value in enumerate([0.1, float("inf"), float("-inf"), float("nan")]):
            storage.set_trial_intermediate_value(trial._trial_id, step, value)  # Trial.report: one objective only
        if n == 0:
            study.tell(trial, [float("inf"), float("-inf")])
        elif n == 1:
            study.tell(trial, [0.25, -1.5])
        # n == 2 stays RUNNING
    study.add_trial(
        optuna.trial.create_trial(
            params={"y": 0.3},
            distributions={"y": FloatDistribution(0, 1)},
            state=TrialState.FAIL,
        )
    )
    study.enqueue_trial({"x": 0.75})  # WAITING: no start time yet
    return study


def _same(mine, optunas) -> None:
    """Equal field for field; NaN intermediate values compare as NaN."""
    assert repr(mine.intermediate_values) == repr(optunas.intermediate_values)
    mine.intermediate_values = optunas.intermediate_values = {}
    assert mine == optunas
    assert list(mine.params) == list(optunas.params)  # the order the parameters were suggested in


@pytest.fixture
def local_time_not_utc(monkeypatch):
    """A time zone other than UTC (Optuna stores UTC and hands out local times)."""
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_trials_read_in_fewer_statements_are_optunas_trials(database_url, local_time_not_utc):
    from sqlalchemy import event

    ours = optuna_internals.TrialReadingRDBStorage(database_url)
    study = _trials_of_every_shape(ours)
    optunas = RDBStorage(database_url)
    statements = []
    event.listen(ours.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    expected = optunas.get_all_trials(study._study_id)
    states = [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING]
    assert [t.state for t in expected] == states
    for trial in expected:
        statements.clear()
        _same(ours.get_trial(trial._trial_id), trial)
        assert len(statements) == 2  # the trial, then its child rows (Optuna: 6)
    with pytest.raises(KeyError):
        ours.get_trial(10_000)
    ids = [t._trial_id for t in expected]
    # everything; a cache's sync (unfinished ones and those after the newest finished one); by state
    for args in ((None, set(), -1), (None, {ids[2]}, ids[1]), ((TrialState.COMPLETE, TrialState.WAITING), set(), -1)):
        statements.clear()
        mine = ours._get_trials(study._study_id, *args)
        assert len(statements) == 2  # the trials, their child rows (Optuna: 7, the study's existence first)
        want = optunas._get_trials(study._study_id, *args)
        assert [t.number for t in mine] == [t.number for t in want] and want
        for got, one in zip(mine, want, strict=True):
            _same(got, one)
    assert ours._get_trials(study._study_id, None, set(), ids[-1]) == []  # none yet: the study exists
    with pytest.raises(KeyError):
        ours._get_trials(study._study_id + 1, None, set(), -1)


def test_other_databases_read_trials_as_optuna_does(tmp_path, monkeypatch):
    """A database the one-statement reads are not tested on (e.g. MySQL) gets Optuna's own reads."""
    from sqlalchemy import event

    storage = optuna_internals.TrialReadingRDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    study = _trials_of_every_shape(storage)
    first = study.trials[0]._trial_id
    statements = []
    event.listen(storage.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    monkeypatch.setattr(storage.engine.dialect, "name", "mysql")
    trial = storage.get_trial(first)
    assert len(statements) == 6 and trial.params  # Optuna's: the trial, then each child table
    statements.clear()
    assert len(storage._get_trials(study._study_id, None, set(), -1)) == 5
    assert len(statements) == 7
