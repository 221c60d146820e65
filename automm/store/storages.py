"""Opening Optuna storages and finding automm studies in them."""

from __future__ import annotations

import importlib.util
import re
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from automm.core import keys
from automm.core.errors import AutommError, option
from automm.store.liveness import heartbeat_options
from automm.store.optuna_internals import TrialReadingRDBStorage

StorageLike = str | optuna.storages.BaseStorage


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block is done, then raise it: for writes that must not be cut in the
    middle. Only in the main thread with Python's default handler (elsewhere the block runs as it is)."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if received:
            raise KeyboardInterrupt


class WholeAppends(optuna.storages.journal.JournalFileBackend):
    """A journal file whose appends Ctrl-C never cuts: Optuna's append takes a file lock (renaming a lock
    file) and an interrupt between its steps left the lock half released, the trial failed with
    ``FileNotFoundError`` and a traceback instead of the one-line interrupt (seen in the Ctrl-C test on a
    journal). The interrupt is raised as soon as the append is whole."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with interrupts_held():
            super().append_logs(logs)


def open_storage(storage: StorageLike) -> StorageLike:
    """An Optuna storage; ``journal:PATH`` opens a journal file that parallel workers can share.

    A SQLite file is opened in write-ahead-log mode with ``synchronous=NORMAL``: a trial writes
    dozens of rows (parameters, per-epoch values, attributes), and a commit no longer waits for
    the disk each time (measured: half the storage time). A crash or a killed worker loses
    nothing committed; only a power cut may lose the last commits. Every database URL (SQLite,
    PostgreSQL, ...) gets Optuna's heartbeat, so a dead worker's trial is failed and retried
    (`automm.store.liveness`); a journal file gets automm's own liveness marks.
    """
    if isinstance(storage, str) and storage.startswith("journal:"):
        path = _storage_file(storage)
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(WholeAppends(str(path)))
    if isinstance(storage, str) and "://" in storage and storage != "sqlite:///:memory:":
        rdb = _open_rdb(storage)
        if storage.startswith("sqlite:///"):
            event.listen(rdb.engine, "connect", _sqlite_pragmas)
            rdb.engine.dispose()  # later connections get the pragmas
        return rdb
    return storage


_CREATION_RACE = ("already exists", "unique constraint", "duplicate", "database is locked")


def _open_rdb(url: str, attempts: int = 6) -> optuna.storages.RDBStorage:
    """`RDBStorage` with a heartbeat. Workers that create the same new database at once race on its
    schema (``UNIQUE constraint failed: alembic_version``, ``table studies already exists``): the
    loser waits and opens what the winner made."""
    url = _with_driver(url)
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # the heartbeat arguments are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return TrialReadingRDBStorage(url, **heartbeat_options())
        except DBAPIError as exc:
            if attempt < attempts - 1 and any(s in str(exc).lower() for s in _CREATION_RACE):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise AutommError(f"cannot open storage {url!r}: {str(exc).splitlines()[0]}") from None
        except Exception as exc:  # optuna/sqlalchemy raise many types for a bad file or URL
            raise AutommError(f"cannot open storage {url!r}: {exc}") from exc
    raise AssertionError("unreachable")


def _with_driver(url: str) -> str:
    """A ``postgresql://`` URL names the installed driver (psycopg 3 from ``automm[postgres]``, else psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres"):
        return url
    if importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg{sep}{rest}"
    if importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2{sep}{rest}"
    raise AutommError("a PostgreSQL storage needs a driver: pip install 'automm[postgres]'")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def file_name(study_name: str) -> str:
    """``study_name`` if it can name the study's default files in the runs folder, else `AutommError`."""
    if not re.fullmatch(r"[\w][\w.+=-]*", study_name) or len(study_name) > 200:
        raise AutommError(
            f"study name {study_name!r} cannot name a file: use letters, digits, '.', '_' and '-' "
            f"(or pass {option('storage')})"
        )
    return study_name


def _storage_file(storage: StorageLike) -> Path | None:
    """The file of a journal or SQLite storage (None: a server, memory or a storage object)."""
    if not isinstance(storage, str):
        return None
    if storage.startswith("journal:"):
        return Path(storage.removeprefix("journal:").removeprefix("//")).expanduser()
    if storage.startswith("sqlite:///") and storage != "sqlite:///:memory:":
        return Path(storage.removeprefix("sqlite:///"))
    return None


def _new_files(storage: StorageLike) -> list[Path]:
    """The files that opening ``storage`` would create (a SQLite or journal file not there yet)."""
    path = _storage_file(storage)
    if path is None or path.exists():
        return []
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


@contextmanager
def removed_if_refused(storage: StorageLike) -> Iterator[None]:
    """Within the block a new study is opened: if it raises and the storage file it created holds no
    study (another worker may have created one meanwhile), the file is removed."""
    created = _new_files(storage)
    try:
        yield
    except BaseException:
        if created and created[0].exists():
            try:
                empty = not optuna.get_all_study_summaries(open_storage(storage))
            except Exception:
                empty = False
            if empty:
                for path in created:
                    path.unlink(missing_ok=True)
        raise


def existing_storage(study_name: str, storage: StorageLike | None, runs_dir: str | Path) -> StorageLike:
    """``storage``, or the default SQLite file of ``study_name`` in ``runs_dir``, which must exist."""
    if storage is not None:
        return storage
    path = Path(runs_dir) / f"{file_name(study_name)}.db"
    if not path.is_file():
        raise AutommError(f"no study storage at {path}; pass {option('storage')} or {option('runs_dir')}")
    return f"sqlite:///{path}"


def find_summary(storage: StorageLike, study_name: str) -> optuna.study.StudySummary | None:
    """The summary of ``study_name`` in ``storage``, or None; an unopenable storage is a user error."""
    try:
        summaries = optuna.get_all_study_summaries(storage)
    except Exception as exc:  # optuna/sqlalchemy raise many types for a bad URL
        raise AutommError(f"cannot open storage {storage!r}: {exc}") from exc
    return next((s for s in summaries if s.study_name == study_name), None)


def settled_summary(storage: StorageLike, study_name: str, wait: float = 15.0) -> optuna.study.StudySummary | None:
    """`find_summary`, but a study another process has just created and not yet described (no automm
    settings, no trials) is waited for, up to ``wait`` seconds, instead of being taken for a foreign one."""
    deadline = time.monotonic() + wait
    summary = find_summary(storage, study_name)
    while (
        summary is not None
        and keys.META not in summary.user_attrs
        and summary.n_trials == 0
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
        summary = find_summary(storage, study_name)
    return summary


def study_names(storage: StorageLike) -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(storage)]


def automm_meta(summary: optuna.study.StudySummary) -> dict[str, Any]:
    """What automm stored in a study (data source, seed, method, settings)."""
    meta = summary.user_attrs.get(keys.META)
    if meta is None:
        raise AutommError(f"study {summary.study_name!r} was not made by automm")
    return meta


def stored_source(storage: StorageLike, study_name: str) -> dict[str, Any]:
    """Where an existing study's data came from (see `automm.study.stored_settings.data_source`);
    a missing study, or one made from an in-memory data set, is a user error."""
    summary = settled_summary(storage, study_name)
    if summary is None:
        names = ", ".join(study_names(storage)) or "none"
        raise AutommError(f"no study {study_name!r} in the storage (studies there: {names})")
    source = automm_meta(summary)["source"]
    if source["in_memory"]:
        raise AutommError(
            f"study {study_name!r} was made from an in-memory data set; open it with automm.Study(dataset, ...)"
        )
    return source


def create_or_join(
    storage: StorageLike, name: str, directions: list[str], sampler: Any, pruner: Any, new: bool
) -> tuple[optuna.Study, optuna.study.StudySummary | None]:
    """Open study ``name`` (``new``: create it). Returns (study, None), or, when another worker created
    it first (names are unique in a storage, so exactly one creator wins), (study, its settled summary)."""
    if new:
        try:
            study = optuna.create_study(
                storage=storage, study_name=name, directions=directions, sampler=sampler, pruner=pruner
            )
            return study, None
        except optuna.exceptions.DuplicatedStudyError:
            summary = settled_summary(storage, name)
            if summary is None:
                raise AutommError(f"study {name!r} was created and removed by another worker meanwhile") from None
            return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner), summary
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner), None
