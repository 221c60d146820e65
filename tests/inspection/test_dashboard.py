"""optuna-dashboard served by `automm dashboard`, checked through its HTTP API."""

import importlib.metadata
import json
import socket
import subprocess
import sys
import time
import urllib.request

import optuna
import pytest
from typer.testing import CliRunner

from automm.cli import app
from automm.methods.ksnas.space import Genotype
from tests.real_components import used


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers.get("Content-Type", ""), response.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = CliRunner().invoke(
        app,
        [
            "search",
            "--folds",
            "1",
            "--runs-dir",
            str(runs),
            "--population",
            "4",
            "--generations",
            "2",
            "--kb-epochs",
            "2",
            "--no-export",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    port = _free_port()
    cmd = [
        sys.executable,
        "-c",
        "from automm.cli import app; app()",
        "dashboard",
        "--runs-dir",
        str(runs),
        "--port",
        str(port),
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):  # up to a minute: the server imports torch and optuna-dashboard, slow on a busy machine
        try:
            _get(base + "/api/meta")
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail(server.stdout.read())
            time.sleep(0.2)
    used("dashboard over HTTP", "optuna-dashboard " + importlib.metadata.version("optuna-dashboard"))
    yield base
    server.terminate()
    server.wait(timeout=10)


def test_dashboard_serves_trials_note_figures_and_diagrams(served):
    _, body = _get(served + "/api/studies")
    studies = json.loads(body)["study_summaries"]
    assert [s["study_name"] for s in studies] == ["digits"]
    study_id = studies[0]["study_id"]
    _, body = _get(f"{served}/api/studies/{study_id}")
    detail = json.loads(body)
    assert len(detail["trials"]) == 8
    assert "| gen | trials | best |" in detail["note"]["body"]
    figures = {g["id"] for g in detail["plotly_graph_objects"]}
    assert figures == {
        "automm-best-score",
        "automm-score-vs-params",
        "automm-epochs-per-generation",
        "automm-architecture-importance",  # over views used, operators and depth, not encoding slots
    }
    kb_artifacts = [a for a in detail["artifacts"] if a["filename"].startswith("kb_v")]
    assert sorted(a["filename"] for a in kb_artifacts) == ["kb_v0.safetensors", "kb_v1.safetensors"]
    trial = detail["trials"][0]
    assert trial["intermediate_values"]  # the learning curve
    attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
    assert attrs["genotype"] and "node_" not in attrs["genotype"]  # the architecture, readable
    note = trial["note"]["body"]  # shown first on the trial's page
    assert note.startswith(f"### `{attrs['genotype']}`") and "- views: " in note and "- fusion steps: " in note
    assert "A first try: **best view**." in note  # trial 0 is the best single view
    (svg,) = [a for a in trial["artifacts"] if a["mimetype"] == "image/svg+xml"]
    content_type, data = _get(f"{served}/artifacts/{study_id}/{trial['trial_id']}/{svg['artifact_id']}")
    assert content_type.startswith("image/svg+xml")
    assert data.startswith(b"<svg") and b"head FC" in data


def test_the_best_trial_card_reads_as_the_architecture(served):
    _, body = _get(served + "/api/studies")
    study_id = json.loads(body)["study_summaries"][0]["study_id"]
    detail = json.loads(_get(f"{served}/api/studies/{study_id}")[1])
    (best,) = detail["best_trials"]  # what the study page's Best Trial card lists
    params = {p["name"]: p["param_external_value"] for p in best["params"]}
    genotype = Genotype.from_string({a["key"]: a["value"] for a in best["user_attrs"]}["genotype"])
    k = len(genotype.views)
    assert [params[f"view_{i}"] for i in range(1, k + 1)] == list(genotype.views)
    assert [params[f"node_{j}"] for j in range(1, k)] == [node.op for node in genotype.nodes]
    views_and_nodes = {*genotype.views, *(f"node_{j}" for j in range(1, k))}
    assert all(params[f"node_{j}_{side}"] in views_and_nodes for j in range(1, k) for side in ("left", "right"))
    m = sum(1 for name in params if name.startswith("view_"))  # the space's slots: unused ones say so
    assert all(params[f"view_{i}"] == "-" for i in range(k + 1, m + 1))
    assert all(params[f"node_{j}{part}"] == "-" for j in range(k, m) for part in ("", "_left", "_right"))
    assert "n_views" not in params and not any(name.startswith("node_0") for name in params)  # no genes


def test_dashboard_without_storage_is_a_user_error(tmp_path):
    result = CliRunner().invoke(app, ["dashboard", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "no study storage" in result.output


def test_a_non_local_host_is_warned_about(tmp_path, monkeypatch):
    import optuna_dashboard

    runs = tmp_path
    optuna.create_study(storage=f"sqlite:///{runs / 'digits.db'}", study_name="digits")
    monkeypatch.setattr(optuna_dashboard, "run_server", lambda *a, **k: None)
    result = CliRunner().invoke(app, ["dashboard", "--runs-dir", str(runs), "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "warning: 0.0.0.0 is reachable from other machines" in flat and "has no login" in flat
    quiet = CliRunner().invoke(app, ["dashboard", "--runs-dir", str(runs)])
    assert "warning" not in quiet.output
