import pytest
import torch

from automm.data.preprocess import Standardizer
from automm.engine.training import TensorData
from automm.methods.bmnas.search import bilevel_search
from automm.methods.bmnas.settings import BMNASSettings
from automm.methods.bmnas.space import BMNASRecipe
from tests.conftest import make_toy


def _tensors(seed: int, n: int = 600) -> tuple[TensorData, TensorData, str]:
    ds = make_toy(n=n, seed=seed)
    standardizer = Standardizer.fit(ds.views, ds.splits.train)
    cpu = torch.device("cpu")
    return (
        TensorData.from_dataset(ds, ds.splits.train, standardizer, cpu),
        TensorData.from_dataset(ds, ds.splits.val, standardizer, cpu),
        ds.task,
    )


def _search(seed: int, epochs: int = 12, **kwargs):
    train, val, task = _tensors(seed)
    settings = BMNASSettings(epochs=epochs, warmup=1, **kwargs)
    return bilevel_search(
        BMNASRecipe(8, 2, 1, 1),
        settings,
        train,
        val,
        task,
        n_outputs=4,
        batch_size=32,
        dropout=0.0,
        threshold=0.5,
        seed=seed,
    )


@pytest.mark.parametrize("relaxation", ["softmax", "gumbel"])
@pytest.mark.parametrize("seed", [0, 1])
def test_the_search_picks_the_two_views_the_label_needs_and_drops_the_noise(seed, relaxation):
    # toy: the label is 2a + b; view left sees a, right sees b, noise sees nothing
    result = _search(seed, relaxation=relaxation)
    cell = result.genotype.cells[0]
    assert {cell.x, cell.y} == {"left/feat", "right/feat"}
    last = result.history[-1]["weights"]
    for slot in ("cell.0.x", "cell.0.y"):
        assert last[slot]["noise/feat"] < min(last[slot]["left/feat"], last[slot]["right/feat"])
    assert result.summary()["margin_mean"] > 0.0
    assert len(result.history) == 12 and 1 <= result.best_epoch <= 12
    assert result.history[result.best_epoch - 1]["genotype"] == str(result.genotype)


def test_the_papers_architecture_rate_leaves_small_data_undecided_and_the_adaptive_one_does_not():
    paper = _search(0, arch_lr=3e-4, relaxation="softmax").history[-1]["weights"]
    adaptive = _search(0, relaxation="softmax").history[-1]["weights"]
    assert max(paper["cell.0.x"].values()) < 0.27  # 4 candidates: 0.25 each when uniform
    assert max(adaptive["cell.0.x"].values()) > 0.4


def test_with_gumbel_sampling_the_derivation_epoch_is_the_best_derived_network_in_the_supernet():
    result = _search(0, relaxation="gumbel")
    scores = [h["val_score"] for h in result.history]  # eval mode: the derived genotype's one-hot path
    assert scores[result.best_epoch - 1] == max(scores)
    assert result.best_epoch == max(i + 1 for i, s in enumerate(scores) if s == max(scores))  # later on ties


def test_the_same_seed_gives_the_same_search():
    first, second = _search(3, epochs=3), _search(3, epochs=3)
    assert str(first.genotype) == str(second.genotype)
    assert first.history[-1]["weights"] == second.history[-1]["weights"]
