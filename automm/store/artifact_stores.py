"""Where a study's artifacts live, and the lock its workers share there.

- A folder (the default ``<runs_dir>/<study>_artifacts``, or a shared mount): Optuna's
  `FileSystemArtifactStore`; the lock is a file in that folder (`automm.store.artifacts.study_lock`).
- ``s3://bucket``: Optuna's `Boto3ArtifactStore` on an S3-compatible store. Credentials and the
  endpoint come from the usual variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_ENDPOINT_URL`` for a store other than Amazon's). Workers then share no folder, so the lock
  lives in the storage: a PostgreSQL advisory lock (`AdvisoryLock`); with a single-machine storage
  (SQLite, a journal file) a lock file in the runs folder does.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore

from automm.core.errors import AutommError

S3 = "s3://"


def is_s3(where: str | Path) -> bool:
    return isinstance(where, str) and where.startswith(S3)


def artifact_location(given: str | Path | None, default: Path) -> str | Path:
    """``given`` as the study's artifact location: an ``s3://bucket`` string, or a folder."""
    if given is None:
        return default
    text = str(given)
    if is_s3(text):
        bucket = text.removeprefix(S3).strip("/")
        if not bucket or "/" in bucket:
            raise AutommError(f"an S3 artifact store is named s3://BUCKET (no prefix), got {text!r}")
        return f"{S3}{bucket}"
    return Path(given).expanduser()


def artifact_store(where: str | Path) -> Any:
    """The Optuna artifact store at ``where`` (a folder is created if missing)."""
    if is_s3(where):
        try:
            import boto3
        except ImportError:
            raise AutommError("an s3:// artifact store needs boto3: pip install 'automm[s3]'") from None
        from optuna.artifacts import Boto3ArtifactStore

        return Boto3ArtifactStore(str(where).removeprefix(S3), client=boto3.client("s3"))
    Path(where).mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(where))


def shared_lock(where: str | Path, storage: Any, study_name: str, runs_dir: Path) -> Any:
    """What `automm.store.artifacts.study_lock` takes for this study: the artifact folder, or, with an S3
    store, a PostgreSQL advisory lock (else a folder in ``runs_dir``, for one machine)."""
    if not is_s3(where):
        return where
    engine = getattr(storage, "engine", None)
    if engine is not None and engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, study_name)
    if isinstance(storage, (optuna.storages.RDBStorage, optuna.storages.JournalStorage)):
        return Path(runs_dir) / f"{study_name}_lock"
    raise AutommError("an s3:// artifact store needs a PostgreSQL, SQLite or journal storage")


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock keyed by the study's name; held on a connection of
    its own, so it is released when the process dies."""

    def __init__(self, engine: Any, study_name: str) -> None:
        self.engine = engine
        digest = hashlib.sha256(f"automm:{study_name}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self._connection: Any = None
        self._guard = threading.Lock()

    def acquire(self) -> None:
        with self._guard:
            connection = self.engine.connect()
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({self.key})")
            self._connection = connection

    def release(self) -> None:
        with self._guard:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({self.key})")
            connection.close()
