"""Where artifacts live and the lock workers share: a folder, or an S3 store with a database lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import automm
from automm.core.errors import AutommError
from automm.methods.ksnas.knowledge import kb_versions
from automm.store.artifact_stores import AdvisoryLock, artifact_location, shared_lock
from automm.store.artifacts import study_lock
from automm.store.storages import open_storage


def test_artifact_locations_are_folders_or_buckets(tmp_path):
    assert artifact_location(None, tmp_path / "d") == tmp_path / "d"
    assert artifact_location(str(tmp_path / "x"), tmp_path / "d") == tmp_path / "x"
    assert artifact_location("s3://bucket", tmp_path) == "s3://bucket"
    for bad in ("s3://", "s3://bucket/prefix"):
        with pytest.raises(AutommError, match="s3://BUCKET"):
            artifact_location(bad, tmp_path)


def test_the_lock_follows_the_artifacts_and_the_storage(tmp_path, postgres_url):
    sqlite = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    assert shared_lock(tmp_path / "a", sqlite, "s", tmp_path) == tmp_path / "a"  # the artifact folder
    assert shared_lock("s3://b", sqlite, "s", tmp_path) == tmp_path / "s_lock"  # one machine: a local folder
    assert isinstance(shared_lock("s3://b", open_storage(postgres_url), "s", tmp_path), AdvisoryLock)


def test_an_advisory_lock_excludes_other_connections(postgres_url):
    engine = open_storage(postgres_url).engine
    first = AdvisoryLock(engine, "s")
    second = AdvisoryLock(open_storage(postgres_url).engine, "s")  # another engine: as another process
    got = threading.Event()

    def waiting() -> int:
        """Advisory lock requests the test server holds back, not granted."""
        with engine.connect() as probe:
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            return int(probe.exec_driver_sql(query).scalar())

    with study_lock(first):
        waiter = threading.Thread(target=lambda: (second.acquire(), got.set()))
        waiter.start()
        deadline = time.time() + 10
        while waiting() == 0 and time.time() < deadline:  # the second holder's request reaches the server
            time.sleep(0.02)
        assert waiting() == 1 and not got.is_set()  # it waits on the lock the first one holds
    assert got.wait(10)  # and gets it once the first lets go
    waiter.join(10)
    assert waiting() == 0
    second.release()


def test_a_study_keeps_its_artifacts_in_an_s3_bucket(tmp_path, s3_bucket, toy, fast_config, monkeypatch):
    bucket, client, _ = s3_bucket
    study = automm.Study(
        toy, config=fast_config, storage=f"journal:{tmp_path / 'j.log'}", artifact_dir=f"s3://{bucket}",
        runs_dir=tmp_path, knowledge={"kb_epochs": 1},
    )  # fmt: skip
    study.optimize(3)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {t.user_attrs["diagram_artifact"] for t in study.optuna_study.trials} <= keys
    assert not Path(tmp_path / "toy_artifacts").exists()
    reopened = automm.Study(
        toy, storage=f"journal:{tmp_path / 'j.log'}", artifact_dir=f"s3://{bucket}", runs_dir=tmp_path
    )
    read: list[str] = []
    store = reopened.artifact_store
    real_reader = store.open_reader
    monkeypatch.setattr(
        store, "open_reader", lambda artifact_id: (read.append(artifact_id), real_reader(artifact_id))[1]
    )
    assert reopened.evaluate(start="kb").scores  # a start from the KB: its weights must come from somewhere
    kb_ids = {p["artifact_id"] for p in kb_versions(reopened.optuna_study)}
    assert kb_ids & set(read)  # they were read back from the bucket, through the store
    assert not list(tmp_path.rglob("*.safetensors"))  # and nowhere on disk
