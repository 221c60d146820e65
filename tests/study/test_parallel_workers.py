"""Several processes on one study (journal storage, shared artifact folder): what they share stays consistent.

These are the races the study lock closes: KB versions built once (no worker trains on a KB
that is later replaced), MFAS proposals computed once per step, the layer bank updated
without lost updates, and the KS-NAS surrogate fitted on the same evidence everywhere.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest

from automm.core.keys import CONFIRMS, KB_POINTER, KB_SHA256, LAYER_BANK, MFAS_STEP, SURROGATE_EVIDENCE, TRIAL_WEIGHTS
from automm.methods.ksnas.sampler import trial_generation
from automm.store.artifacts import sha256
from automm.store.storages import open_storage
from tests.conftest import make_toy

WORKER = textwrap.dedent(
    """
    import json, sys, optuna
    import automm
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data, storage, artifacts, method, settings = sys.argv[1:6]
    study = automm.Study(
        data=data, storage=storage, study_name="shared", artifact_dir=artifacts, seed=0, method=method,
        config=automm.SearchConfig(folds=1, fusion_dim=16, max_views=3, dropout=0.0, lr=5e-3, batch_size=64,
                                   max_epochs=20, patience=3),
        **json.loads(settings),
    )
    study.optimize()
    """
)


def _run_workers(
    tmp_path: Path,
    method: str,
    settings: str,
    n: int = 3,
    storage: str | None = None,
    artifacts: str | None = None,
    env: dict[str, str] | None = None,
) -> tuple[optuna.Study, Path]:
    """``n`` worker processes on one study (default storage: a journal file); the study and its artifact folder."""
    toy = make_toy(n=240)
    data = tmp_path / "toy.npz"
    s = toy.splits
    arrays = {f"views/{k}": v for k, v in toy.views.items()}
    np.savez(data, **arrays, labels=toy.labels, train=s.train, val=s.val, test=s.test)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    storage = storage or f"journal:{tmp_path / 'journal.log'}"
    artifacts = artifacts or tmp_path / "artifacts"
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", **(env or {})}
    args = [sys.executable, str(script), str(data), storage, str(artifacts), method, settings]
    workers = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(n)
    ]
    for w in workers:
        out, _ = w.communicate(timeout=600)
        assert w.returncode == 0, out
    return optuna.load_study(study_name="shared", storage=open_storage(storage)), artifacts


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_ksnas_workers_share_one_kb_and_one_surrogate_evidence(tmp_path, kind, request):
    settings = '{"ksnas": {"population_size": 4, "generations": 4, "surrogate_pool": 2}, "knowledge": {"kb_epochs": 2}}'
    storage = request.getfixturevalue("postgres_url") if kind == "postgresql" else None
    study, artifacts = _run_workers(tmp_path, "ksnas", settings, n=4, storage=storage)
    assert not [t.number for t in study.trials if t.state != optuna.trial.TrialState.COMPLETE]  # nothing lost
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    gens = Counter(trial_generation(t) for t in complete)
    assert set(gens) == {0, 1, 2, 3} and all(n >= 4 for n in gens.values())  # N=4 per generation, T=4
    assert len(complete) <= 4 * (4 + 3)  # each generation may take one extra trial per other worker
    for g in gens:  # no candidate evaluated twice in a generation
        genotypes = [t.user_attrs["genotype"] for t in complete if trial_generation(t) == g]
        assert len(set(genotypes)) == len(genotypes)
    attrs = study._storage.get_study_system_attrs(study._study_id)
    pointers = {int(k.removeprefix(KB_POINTER)): v for k, v in attrs.items() if k.startswith(KB_POINTER)}
    assert sorted(pointers) == [0, 1, 2, 3]
    for pointer in pointers.values():  # each version's bytes are what its pointer recorded
        assert sha256((artifacts / pointer["artifact_id"]).read_bytes()) == pointer["sha256"]
    for t in complete:  # every worker used the one recorded KB version of a generation; a repeat reuses the
        source = study.trials[t.user_attrs.get("duplicate_of", t.number)]  # result of the trial it repeats
        if CONFIRMS in source.user_attrs:  # under the default time budget: a warm result met again, confirmed
            assert KB_SHA256 not in t.user_attrs and source.user_attrs["cache_key"] == source.user_attrs["genotype"]
            confirmed = study.trials[source.user_attrs[CONFIRMS]]  # from scratch, of a warm-started trial
            assert (
                confirmed.user_attrs["genotype"] == source.user_attrs["genotype"] and KB_SHA256 in confirmed.user_attrs
            )
            continue
        assert t.user_attrs[KB_SHA256] == pointers[trial_generation(source)]["sha256"]
    diagrams = {t.user_attrs.get("diagram_artifact") for t in study.trials}
    uploads = {p.name for p in artifacts.iterdir() if not p.name.startswith(("automm-", "."))} - diagrams
    assert uploads == {p["artifact_id"] for p in pointers.values()}  # each KB version uploaded exactly once
    weights = {p.name for p in artifacts.iterdir() if p.name.startswith("automm-weights")}
    waiting = {t.system_attrs[TRIAL_WEIGHTS]["artifact_id"] for t in study.trials if TRIAL_WEIGHTS in t.system_attrs}
    assert weights <= waiting  # no stray weight files
    evidence = {k: v for k, v in attrs.items() if k.startswith(SURROGATE_EVIDENCE)}
    assert sorted(evidence) == [f"{SURROGATE_EVIDENCE}{g}" for g in (1, 2, 3)]
    for key, numbers in evidence.items():
        g = int(key.removeprefix(SURROGATE_EVIDENCE))
        assert numbers and all(trial_generation(study.trials[n]) < g for n in numbers)


@pytest.mark.slow
def test_mfas_workers_share_proposals_and_lose_no_layer_update(tmp_path):
    study, artifacts = _run_workers(tmp_path, "mfas", '{"mfas": {"k": 3, "iterations": 2, "max_layers": 2}}')
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) >= 12
    attrs = study._storage.get_study_system_attrs(study._study_id)
    steps = {int(k.removeprefix(MFAS_STEP)): v for k, v in attrs.items() if k.startswith(MFAS_STEP)}
    sizes = [3, 3]  # toy: 3 one-layer choices per level 1, then K = 3
    for t in complete:  # every trial evaluated a proposal of its own step
        number, step = t.number, 0
        while number >= sizes[step % 2]:
            number -= sizes[step % 2]
            step += 1
        assert t.user_attrs["genotype"] in steps[step]
    bank = attrs[LAYER_BANK]
    layer_files = {p.name for p in artifacts.iterdir() if p.name.startswith("automm-layers")}
    assert layer_files == {p["artifact_id"] for p in bank.values()}  # no lost update, no orphaned file
    offered = {t.number for t in complete if t.user_attrs.get("inherited_layers") is not None}
    assert {p["trial"] for p in bank.values()} <= offered


@pytest.mark.slow
def test_workers_on_postgresql_and_an_s3_store_share_one_kb(tmp_path, postgres_url, s3_bucket):
    bucket, client, env = s3_bucket
    settings = '{"ksnas": {"population_size": 4, "generations": 3}, "knowledge": {"kb_epochs": 2}}'
    study, _ = _run_workers(tmp_path, "ksnas", settings, n=3, storage=postgres_url, artifacts=f"s3://{bucket}", env=env)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == len(study.trials)
    gens = Counter(trial_generation(t) for t in complete)
    assert set(gens) == {0, 1, 2} and all(n >= 4 for n in gens.values())
    attrs = study._storage.get_study_system_attrs(study._study_id)
    pointers = {int(k.removeprefix(KB_POINTER)): v for k, v in attrs.items() if k.startswith(KB_POINTER)}
    assert sorted(pointers) == [0, 1, 2]  # one version per generation, decided under the advisory lock
    for t in complete:
        assert t.user_attrs["kb_sha256"] == pointers[trial_generation(t)]["sha256"]
    for pointer in pointers.values():  # in the bucket, byte for byte
        body = client.get_object(Bucket=bucket, Key=pointer["artifact_id"])["Body"].read()
        assert sha256(body) == pointer["sha256"]
    assert not (tmp_path / "artifacts").exists()  # nothing went to a local folder
