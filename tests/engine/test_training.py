from dataclasses import replace

import numpy as np
import pytest
import torch

from automm.core.errors import AutommError
from automm.data.preprocess import Standardizer
from automm.engine.training import TensorData, TrainConfig, assign_weights, fit, predict_logits
from automm.methods.ksnas.model import build_fusion_net
from automm.methods.ksnas.space import Genotype
from tests.conftest import make_toy


def _tensors(ds):
    st = Standardizer.fit(ds.views, ds.splits.train)
    cpu = torch.device("cpu")
    return (TensorData.from_dataset(ds, ds.splits.train, st, cpu), TensorData.from_dataset(ds, ds.splits.val, st, cpu))


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_fusion_converges_and_beats_single_view(task):
    ds = make_toy(n=400, task=task)
    train, val = _tensors(ds)
    config = TrainConfig(lr=5e-3, batch_size=64, max_epochs=60, patience=8)
    scores = {}
    for text in ("left/feat", "concat(left/feat,right/feat)"):
        torch.manual_seed(0)
        net = build_fusion_net(Genotype.from_string(text), ds.view_dims, ds.n_classes, 16, 0.0)
        scores[text] = fit(net, train, val, task, config, seed=0)
    fused = scores["concat(left/feat,right/feat)"]
    assert fused.best_score > 0.85
    assert fused.best_score > scores["left/feat"].best_score + 0.15
    assert fused.epochs < 60 and fused.epochs - fused.best_epoch == 8  # early stopping with patience
    assert len(fused.curve) == fused.epochs and max(fused.curve) == fused.best_score


def test_best_weights_are_restored_and_seeded():
    ds = make_toy(n=200)
    train, val = _tensors(ds)
    config = TrainConfig(max_epochs=15, patience=3)
    results, outputs = [], []
    for _ in range(2):
        torch.manual_seed(1)
        net = build_fusion_net(Genotype.from_string("concat(left/feat,right/feat)"), ds.view_dims, 4, 8, 0.1)
        results.append(fit(net, train, val, "multiclass", config, seed=7))
        outputs.append(predict_logits(net, val))
    assert results[0].curve == results[1].curve and np.allclose(outputs[0], outputs[1])
    pred = outputs[0].argmax(1)
    assert (pred == val.labels.numpy()).mean() == pytest.approx(results[0].best_score)


def test_fixed_epochs_without_validation_and_callback():
    ds = make_toy(n=100)
    train, val = _tensors(ds)
    net = build_fusion_net(Genotype(("left/feat",)), ds.view_dims, 4, 8)
    res = fit(net, train, None, "multiclass", TrainConfig(), seed=0, epochs=3)
    assert res.epochs == 3 and np.isnan(res.best_score)
    seen = []
    fit(
        net,
        train,
        val,
        "multiclass",
        TrainConfig(max_epochs=4, patience=10),
        seed=0,
        on_epoch=lambda e, s: seen.append(e),
    )
    assert seen == [1, 2, 3, 4]
    with pytest.raises(ValueError):
        fit(net, train, None, "multiclass", TrainConfig(), seed=0)


def test_a_callback_that_says_stop_ends_training_with_the_best_weights_so_far():
    ds = make_toy(n=200)
    train, val = _tensors(ds)
    net = build_fusion_net(Genotype.from_string("concat(left/feat,right/feat)"), ds.view_dims, 4, 8)
    res = fit(
        net, train, val, "multiclass", TrainConfig(max_epochs=20, patience=10), seed=0, on_epoch=lambda e, s: e == 3
    )
    assert res.stopped_at == 3 and res.epochs == 3 and len(res.curve) == 3
    assert (predict_logits(net, val).argmax(1) == val.labels.numpy()).mean() == pytest.approx(res.best_score)
    # stopped on the warm score itself: no epoch trained, the weights given are kept
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = fit(net, train, val, "multiclass", TrainConfig(), seed=0, on_epoch=lambda e, s: True, score_initial=True)
    assert res.stopped_at == 0 and res.epochs == 0 and res.best_epoch == 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert fit(net, train, val, "multiclass", TrainConfig(max_epochs=2), seed=0).stopped_at is None


def test_view_dropout_never_drops_every_view():
    from automm.engine.training import drop_views

    gen = torch.Generator().manual_seed(0)
    views = {"a": torch.ones(2000, 3), "b": torch.ones(2000, 2)}
    dropped = drop_views(views, 0.5, gen)
    kept_a, kept_b = dropped["a"][:, 0] > 0, dropped["b"][:, 0] > 0
    assert bool((kept_a | kept_b).all())  # a row keeps at least one view
    assert 0.25 < float((~kept_a).float().mean()) < 0.45  # about half of half: both-dropped rows are kept whole
    assert torch.equal(dropped["a"][kept_a], torch.ones(int(kept_a.sum()), 3))  # whole views, not features
    assert drop_views(views, 0.0, gen) is views and drop_views({"a": views["a"]}, 0.9, gen)["a"] is views["a"]


def test_cosine_schedule_and_label_smoothing():
    from automm.engine.training import learning_rate_factor, loss_function

    assert learning_rate_factor("constant", 50, 100) == 1.0
    assert learning_rate_factor("cosine", 0, 100) == 1.0
    assert learning_rate_factor("cosine", 50, 100) == pytest.approx(0.5)
    assert learning_rate_factor("cosine", 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert loss_function("multiclass", 0.1).label_smoothing == 0.1


def test_weight_average_is_what_is_scored_and_kept():
    ds = make_toy(n=300)
    train, val = _tensors(ds)
    genotype = Genotype.from_string("concat(left/feat,right/feat)")
    config = TrainConfig(lr=5e-3, batch_size=64, max_epochs=20, patience=20, ema=0.9, view_dropout=0.1)
    torch.manual_seed(0)
    net = build_fusion_net(genotype, ds.view_dims, 4, 16, 0.0)
    result = fit(net, train, val, "multiclass", config, seed=0)
    assert result.best_score > 0.85
    # the kept weights are the average's at the best epoch: scoring them again gives the recorded score
    assert (predict_logits(net, val).argmax(1) == val.labels.numpy()).mean() == pytest.approx(result.best_score)
    torch.manual_seed(0)
    plain = build_fusion_net(genotype, ds.view_dims, 4, 16, 0.0)
    fit(plain, train, val, "multiclass", TrainConfig(lr=5e-3, batch_size=64, max_epochs=20, patience=20), seed=0)
    weights = [p for p in net.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(weights, plain.parameters(), strict=True))
    # retraining for a fixed number of epochs keeps the average as well
    torch.manual_seed(0)
    fixed = build_fusion_net(genotype, ds.view_dims, 4, 16, 0.0)
    fit(fixed, train, None, "multiclass", replace(config, schedule="cosine"), seed=0, epochs=5)
    assert all(torch.isfinite(p).all() for p in fixed.parameters())


class _ModeRecorder(torch.nn.Module):
    """A network that notes, at each forward pass, the modes its modules are in (training or not)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.modes: list[set[bool]] = []

    def forward(self, batch):
        self.modes.append({m.training for m in self.modules()})
        return self.inner(batch)


def test_every_module_trains_in_training_mode_and_is_scored_in_eval_mode():
    ds = make_toy(n=200)
    train, val = _tensors(ds)
    net = _ModeRecorder(build_fusion_net(Genotype.from_string("concat(left/feat,right/feat)"), ds.view_dims, 4, 8, 0.1))
    config = TrainConfig(max_epochs=3, patience=10, batch_size=64)
    fit(net, train, val, "multiclass", config, seed=0, score_initial=True)
    batches = -(-len(train) // 64)
    assert net.modes == [{False}] + ([{True}] * batches + [{False}]) * 3  # scored first (warm), then per epoch

    class FrozenDropout(torch.nn.Dropout):  # a module whose own `train` keeps it in eval mode
        def train(self, mode: bool = True):
            return super().train(False)

    net = _ModeRecorder(net.inner)
    net.frozen = FrozenDropout(0.5)  # a submodule (outside the forward pass)
    fit(net, train, val, "multiclass", config, seed=0)
    assert net.modes == ([{True, False}] * batches + [{False}]) * 3  # its own rule is kept


def test_assign_weights_loads_as_load_state_dict_does_into_the_networks_own_tensors():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    other = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    other(torch.randn(8, 3))  # running statistics and a batch count of its own
    state = {k: v.half() if v.is_floating_point() else v for k, v in other.state_dict().items()}  # fp16 at rest
    expected = torch.nn.Sequential(*[torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)])
    expected.load_state_dict(state)
    parameter = net[0].weight
    assign_weights(net.state_dict(), {**state, "extra.weight": torch.ones(1)})
    assert net[0].weight is parameter and parameter.dtype == torch.float32  # in place, the network's dtype
    for (name, mine), theirs in zip(net.state_dict().items(), expected.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs), name
    with pytest.raises(AutommError, match=r"the KB has no layer '2\.bias'"):
        assign_weights(net.state_dict(), {k: v for k, v in state.items() if k != "2.bias"}, "the KB")
    with pytest.raises(AutommError, match=r"layer '2\.bias' is \(3,\), the network's \(2,\)"):
        assign_weights(net.state_dict(), {**state, "2.bias": torch.zeros(3)})
