import numpy as np

from automm.inspection.importance import MIN_TRIALS, architecture_features, importance_figure, importance_rows
from automm.methods.bmnas.method import BMNASMethod

VIEWS = ["image/a", "image/b", "text/c"]


def test_features_read_any_methods_genotype():
    assert architecture_features("concat(add(image/a,text/c),image/b)", VIEWS) == {
        "uses image/a": 1.0,
        "uses image/b": 1.0,
        "uses text/c": 1.0,
        "add steps": 1.0,
        "concat steps": 1.0,
        "views used": 3.0,
        "fusion steps": 2.0,
    }
    mfas = architecture_features("relu(image/a+text/c)>sigmoid(image/b)", VIEWS)
    assert mfas["relu steps"] == 1.0 and mfas["views used"] == 3.0
    assert architecture_features("text/c | lr=0.003", VIEWS)["uses image/a"] == 0.0
    genotype = "bmnas(C=8,L=2,cell(image/a,text/c,glu(x,y)),cell(cell.0,text/c,sum(x,x)))"
    bmnas = architecture_features(genotype, VIEWS, BMNASMethod.structure_words)
    assert bmnas["cells"] == 2.0 and bmnas["fusion steps"] == 2.0  # cells hold the steps; bmnas( is structure
    assert bmnas["glu steps"] == 1.0 and "bmnas steps" not in bmnas and "cell steps" not in bmnas
    assert bmnas["views used"] == 2.0 and bmnas["uses image/b"] == 0.0


def test_the_feature_that_decides_the_score_ranks_first():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        uses_text = bool(rng.integers(2))
        op = ["add", "max"][int(rng.integers(2))]
        genotype = f"{op}(image/a,text/c)" if uses_text else f"{op}(image/a,image/b)"
        rows.append({"number": i, "value": 0.6 + 0.3 * uses_text + 0.01 * rng.standard_normal(), "genotype": genotype})
    ranked = importance_rows(rows, VIEWS)
    assert ranked[0]["feature"] in ("uses text/c", "uses image/b")  # one decides, the other is its mirror
    assert abs(sum(r["importance"] for r in ranked) - 1.0) < 1e-6
    text = next(r for r in ranked if r["feature"] == "uses text/c")
    assert text["with"] > text["without"] + 0.2
    assert importance_figure(ranked, "accuracy")["data"][0]["orientation"] == "h"


def test_too_few_or_identical_trials_rank_nothing():
    few = [{"number": i, "value": 0.5, "genotype": "image/a"} for i in range(MIN_TRIALS - 1)]
    assert importance_rows(few, VIEWS) == []
    same = [{"number": i, "value": 0.5 + i, "genotype": "add(image/a,text/c)"} for i in range(10)]
    assert importance_rows(same, VIEWS) == []
