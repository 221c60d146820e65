import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from automm import cli
from automm.cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_search_quiet_then_resume(tmp_path):
    result = _run("search", "--trials", 2, "--runs-dir", tmp_path, "--quiet", "--seed", 1)
    assert result.exit_code == 0, result.output
    assert re.search(r"best accuracy 0\.\d{4} \(trial \d\): ", result.output)
    assert (tmp_path / "digits.db").exists()
    result = _run("search", "--trials", 3, "--runs-dir", tmp_path, "--study-name", "digits")
    assert result.exit_code == 0, result.output
    assert "top 5 of 3 trials" in result.output


def test_datasets_lists_everything(tmp_path, monkeypatch):
    result = _run("datasets", "--data-dir", tmp_path)
    assert result.exit_code == 0
    for name in ("digits", "handwritten", "cub"):
        assert name in result.output
    assert "missing" in result.output and "embedded" in result.output
    monkeypatch.setattr(cli, "out", Console(width=400))  # no folding inside table cells
    detailed = _run("datasets", "--data-dir", tmp_path, "--details")
    assert detailed.exit_code == 0 and "pixels/top[32]" in detailed.output and "1077/360/360" in detailed.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dataset", "nope"), "unknown data set 'nope'"),
        (("--data", "/no/such/file.mat"), "no such file"),
        (("--sampler", "annealing"), "unknown sampler 'annealing'"),
        (("--pruner", "hyperband"), "unknown pruner 'hyperband'"),
        (("--trials", 0), "at least 1"),
        (("--storage", "nosuchdb://x"), "cannot open storage"),
        (("--dataset", "handwritten", "--data-dir", "/no/where"), "not found in"),
    ],
)
def test_search_user_errors_exit_2_with_one_line(tmp_path, args, message):
    result = _run("search", "--runs-dir", tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_resume_with_other_sampler_is_refused(tmp_path):
    assert _run("search", "--trials", 1, "--runs-dir", tmp_path, "--quiet").exit_code == 0
    result = _run("search", "--trials", 2, "--runs-dir", tmp_path, "--sampler", "random")
    assert result.exit_code == 2 and "created with sampler='ksnas'" in result.output


def test_bad_data_file_exit_2(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    result = _run("search", "--data", bad, "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "not a readable .npz" in result.output


def test_ksnas_search_shows_generations_and_kb(tmp_path):
    result = _run("search", "--runs-dir", tmp_path, "--population", 4, "--generations", 2, "--kb-epochs", 2)
    assert result.exit_code == 0, result.output
    assert "sampler ksnas (N=4, T=2, knowledge sharing on)" in result.output
    assert "generations (validation)" in result.output and "v1" in result.output
    assert "gen 1 | best accuracy" in result.output


def test_ksnas_flags_validated_and_stored(tmp_path):
    result = _run("search", "--runs-dir", tmp_path, "--population", 1)
    assert result.exit_code == 2 and "at least 2 individuals" in result.output
    ok = _run("search", "--runs-dir", tmp_path, "--population", 3, "--generations", 1, "--no-knowledge-sharing", "-q")
    assert ok.exit_code == 0, ok.output
    again = _run("search", "--runs-dir", tmp_path, "--knowledge-sharing", "-q")
    assert again.exit_code == 2 and "knowledge_sharing" in again.output
