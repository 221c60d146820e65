import numpy as np
import pytest
import torch

import automm
from automm.core.errors import AutommError
from automm.core.keys import TRIAL_WEIGHTS as WEIGHTS_ATTR
from automm.engine.training import TensorData, predict_logits
from automm.methods.ksnas.knowledge import kb_versions, merge_states, pretrain_supernet, warm_start
from automm.methods.ksnas.model import Supernet, build_fusion_net
from automm.methods.ksnas.sampler import trial_generation
from automm.methods.ksnas.settings import KnowledgeSettings, KSNASSettings
from automm.methods.ksnas.space import SearchSpace
from automm.search import queries
from automm.store.artifacts import state_from_bytes, state_to_bytes
from tests.conftest import make_toy

DIMS = {"a/x": 5, "b/y": 3, "c/z": 4}
SPACE = SearchSpace(tuple(DIMS), max_views=3)


def test_supernet_covers_every_genotype_and_shares_modules():
    supernet = Supernet(DIMS, 4, 8, 3, 0.0)
    names = set(supernet.state_dict())
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = SPACE.random_genotype(rng)
        assert set(build_fusion_net(g, DIMS, 4, 8).state_dict()) <= names
    sub = supernet.subnet(SPACE.random_genotype(rng))
    assert sub.head is supernet.head and all(sub.align[v] is supernet.align[v] for v in sub.view_order)


def test_pretraining_trains_shared_weights(toy, fast_config, tmp_path):
    objective = automm.Study(toy, config=fast_config, runs_dir=tmp_path).objective
    space = objective.space
    torch.manual_seed(0)
    supernet = Supernet(toy.view_dims, toy.n_classes, fast_config.fusion_dim, space.max_views, fast_config.dropout)
    rng = np.random.default_rng(1)
    candidates = (space.random_genotype(rng) for _ in range(500))
    informative = [g for g in candidates if {"left/feat", "right/feat"} <= set(g.views)]
    probes = informative[:8]  # the label needs both informative views

    def mean_score():
        scores = []
        for g in probes:
            logits = predict_logits(supernet.subnet(g), objective.val_data)
            scores.append((logits.argmax(1) == objective.val_data.labels.numpy()).mean())
        return float(np.mean(scores))

    before = mean_score()
    report = pretrain_supernet(
        supernet, space, objective.train_data, "multiclass", objective.train_config, epochs=60, seed=0
    )
    assert report.epochs == 60 and report.batches == 60 * int(np.ceil(len(objective.train_data) / 64))
    after = mean_score()
    assert after > 0.75 and after > before + 0.4, (before, after)


def test_pretraining_stops_on_a_holdout_of_its_own_training_rows(fast_config, tmp_path, monkeypatch):
    from automm.methods.ksnas import knowledge

    toy = make_toy(n=600)  # a training split large enough to hold out 10%
    objective = automm.Study(toy, config=fast_config, runs_dir=tmp_path).objective
    space, train = objective.space, _random_labels(objective.train_data)  # it can only overfit them
    assert len(train) * knowledge.HOLDOUT_SHARE >= knowledge.MIN_HOLDOUT  # the toy is large enough to hold out
    seen: list[torch.Tensor] = []
    real_epoch = knowledge.train_epoch

    def spy(model_for_batch, data, *args, **kwargs):
        seen.append(data.labels)
        return real_epoch(model_for_batch, data, *args, **kwargs)

    monkeypatch.setattr(knowledge, "train_epoch", spy)

    def pretrain(patience):
        seen.clear()
        torch.manual_seed(0)
        net = Supernet(toy.view_dims, toy.n_classes, fast_config.fusion_dim, space.max_views, fast_config.dropout)
        return pretrain_supernet(
            net, space, train, "multiclass", objective.train_config, epochs=80, seed=0, patience=patience
        )

    fixed = pretrain(None)
    assert fixed.epochs == 80 and {len(s) for s in seen} == {len(train)}
    stopped = pretrain(1)
    assert 1 <= stopped.epochs < 80  # stopped once the holdout loss rose
    held_out = round(knowledge.HOLDOUT_SHARE * len(train))
    assert {len(s) for s in seen} == {len(train) - held_out}  # the holdout rows were never trained on
    assert len(seen) == stopped.epochs

    small = train.subset(torch.arange(int(knowledge.MIN_HOLDOUT / knowledge.HOLDOUT_SHARE) - 10))  # too few to hold out
    seen.clear()
    net = Supernet(toy.view_dims, toy.n_classes, fast_config.fusion_dim, space.max_views, fast_config.dropout)
    report = pretrain_supernet(net, space, small, "multiclass", objective.train_config, epochs=5, seed=0, patience=1)
    assert report.epochs == 5 and {len(s) for s in seen} == {len(small)}


def test_pretraining_keeps_the_weights_of_its_best_holdout_epoch(fast_config, tmp_path, monkeypatch):
    from automm.methods.ksnas import knowledge

    toy = make_toy(n=600)  # a training split large enough to hold out 10%
    objective = automm.Study(toy, config=fast_config, runs_dir=tmp_path).objective
    space = objective.space
    losses: list[float] = []
    real_loss = knowledge._holdout_loss

    def spy(supernet, probes, holdout, criterion):
        losses.append(real_loss(supernet, probes, holdout, criterion))
        spy.last = (probes, holdout, criterion)
        return losses[-1]

    monkeypatch.setattr(knowledge, "_holdout_loss", spy)
    torch.manual_seed(0)
    net = Supernet(toy.view_dims, toy.n_classes, fast_config.fusion_dim, space.max_views, fast_config.dropout)
    train = _random_labels(objective.train_data)
    report = pretrain_supernet(net, space, train, "multiclass", objective.train_config, epochs=80, seed=0, patience=2)
    assert report.epochs < 80 and losses[-1] > min(losses)  # it stopped after epochs worse than its best
    assert real_loss(net, *spy.last) == pytest.approx(min(losses), rel=1e-6)  # the best epoch's weights


def _random_labels(data: TensorData) -> TensorData:
    """``data`` with its labels shuffled: a holdout loss that can only rise once training fits noise."""
    shuffled = data.labels[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))]
    return TensorData(views=data.views, labels=shuffled, masks=data.masks)


def test_warm_start_merge_and_serialisation():
    supernet = Supernet(DIMS, 2, 4, 3, 0.0)
    kb = {k: v.clone() for k, v in supernet.state_dict().items()}
    g = automm.Genotype.from_string("concat(a/x,b/y)")
    net = build_fusion_net(g, DIMS, 2, 4)
    warm_start(net, kb)
    assert torch.equal(net.state_dict()["fusion.n0_concat.proj.weight"], kb["fusion.n0_concat.proj.weight"])
    with pytest.raises(AutommError, match="has no layer"):
        warm_start(net, {k: v for k, v in kb.items() if not k.startswith("head")})

    one = {"head.bias": torch.ones(2)}
    three = {"head.bias": torch.full((2,), 3.0)}
    merged = merge_states(kb, [one, three], rate=1.0)
    assert torch.equal(merged["head.bias"], torch.full((2,), 2.0))
    assert torch.equal(merged["align.a/x.0.weight"], kb["align.a/x.0.weight"])  # unused layer kept
    half = merge_states({"head.bias": torch.zeros(2)}, [one], rate=0.5)
    assert torch.equal(half["head.bias"], torch.full((2,), 0.5))

    import hashlib

    data = state_to_bytes(kb)
    back = state_from_bytes(data, hashlib.sha256(data).hexdigest(), "kb")
    assert all(torch.equal(back[k], kb[k]) for k in kb)
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(AutommError, match="corrupted or was modified"):
        state_from_bytes(tampered, hashlib.sha256(data).hexdigest(), "kb")
    with pytest.raises(AutommError, match="merge_rate"):
        KnowledgeSettings(merge_rate=0.0)


def _ks_study(tmp_path, **kwargs):
    return automm.Study(
        make_toy(n=240),
        runs_dir=tmp_path,
        config=automm.SearchConfig(
            folds=1, fusion_dim=16, max_views=3, dropout=0.0, lr=5e-3, batch_size=64, max_epochs=25, patience=4
        ),
        ksnas=KSNASSettings(population_size=4, generations=4),
        **{"knowledge": {"kb_epochs": 2}, **kwargs},
    )


def test_knowledge_sharing_search_versions_and_fair_selection(tmp_path):
    study = _ks_study(tmp_path)
    study.optimize()
    trials = study.optuna_study.trials
    versions = kb_versions(study.optuna_study)
    assert [p["version"] for p in versions] == [0, 1, 2, 3]
    assert versions[0]["pretrain_epochs"] == 2
    for t in trials:  # every individual starts from its generation's KB version
        assert t.user_attrs["kb_version"] == trial_generation(t) == t.user_attrs["generation"]
        assert t.user_attrs["kb_sha256"] == versions[trial_generation(t)]["sha256"]
        assert "initial_score" in t.user_attrs
    sampler = study.optuna_study.sampler
    gen0 = [t.number for t in trials if trial_generation(t) == 0]
    assert versions[1]["contributors"] == gen0  # generation 0: everybody contributes
    for g in (1, 2):
        worst_parent = min(t.value for t in sampler.get_parent_population(study.optuna_study, g))
        beat = [t.number for t in trials if trial_generation(t) == g and t.value > worst_parent]
        assert versions[g + 1]["contributors"] == beat
    # waiting weights are deleted one generation after use: only the last two generations' remain
    weight_files = sorted(p.name for p in study.artifact_dir.iterdir() if p.name.startswith("automm-weights"))
    kept = {
        t.system_attrs[WEIGHTS_ATTR]["artifact_id"]
        for t in trials
        if trial_generation(t) >= 2 and WEIGHTS_ATTR in t.system_attrs
    }
    assert set(weight_files) == kept
    report = study.generation_report()
    assert [r["generation"] for r in report] == [0, 1, 2, 3] and all(r["trials"] == 4 for r in report)
    cost = study.training_cost()
    assert cost["epochs"] == cost["individual_epochs"] + 2
    assert study.evaluate(start="kb").warm_started


def test_without_fair_selection_everybody_contributes(tmp_path):
    study = _ks_study(tmp_path, knowledge={"kb_epochs": 2, "fair_selection": False})
    study.optimize(12)
    trials = study.optuna_study.trials
    for p in kb_versions(study.optuna_study)[1:]:
        assert p["contributors"] == [t.number for t in trials if trial_generation(t) == p["version"] - 1]


def test_without_knowledge_sharing_nothing_is_stored(tmp_path):
    study = _ks_study(tmp_path, knowledge_sharing=False)
    study.optimize(8)
    assert kb_versions(study.optuna_study) == []
    assert all("kb_version" not in t.user_attrs for t in study.optuna_study.trials)
    diagrams = {t.user_attrs["diagram_artifact"] for t in study.optuna_study.trials}
    predictions = ("automm-oof-", "automm-linear-")
    stored = {p.name for p in study.artifact_dir.iterdir() if not p.name.startswith((*predictions, ".automm.lock"))}
    assert stored == diagrams  # only the trials' SVG diagrams and out-of-fold predictions (the linear one's too)


def test_tampered_kb_is_detected_on_resume(tmp_path):
    study = _ks_study(tmp_path)
    study.optimize(4)
    pointer = kb_versions(study.optuna_study)[0]
    path = study.artifact_dir / pointer["artifact_id"]
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    resumed = automm.Study(make_toy(n=240), runs_dir=tmp_path)
    with pytest.raises(AutommError, match="knowledge base v0 is corrupted"):
        resumed.evaluate()


def test_same_study_name_in_two_storages_shares_no_files(tmp_path):
    """Two studies named alike in one runs folder (SQLite and journal) share the artifact folder."""
    config = automm.SearchConfig(
        folds=1, fusion_dim=16, max_views=3, dropout=0.0, lr=5e-3, batch_size=64, max_epochs=20, patience=3
    )
    common = {"runs_dir": tmp_path, "config": config, "ksnas": {"population_size": 4, "generations": 2}}
    a = automm.Study(make_toy(n=240), knowledge={"kb_epochs": 1}, **common)
    b = automm.Study(make_toy(n=240), storage=f"journal:{tmp_path}/toy.journal", knowledge={"kb_epochs": 2}, **common)
    assert a.artifact_dir == b.artifact_dir
    a.optimize(4)  # generation 0 of each offers its weights before either builds KB v1
    b.optimize(4)
    a.optimize()  # builds v1 from its own generation 0
    b.optimize()
    for study in (a, b):
        assert [p["version"] for p in kb_versions(study.optuna_study)] == [0, 1]
        assert study.evaluate(start="kb").warm_started


def test_auto_start_keeps_the_warm_start_only_when_it_scored_better(tmp_path):
    study = _ks_study(tmp_path)
    study.optimize()
    final, checked = study.final, 0
    for genotype in study.top_genotypes(3):
        trial = queries.trial_of(study.optuna_study, genotype)
        if not study.method.warm_started(trial):
            continue
        scratch_epochs, scratch_score = final._scratch_epochs(genotype, trial)
        state, epochs = final.recipe(genotype, "auto")
        warm_better = trial.user_attrs["fold_scores"][0] > scratch_score
        assert (state is not None) == warm_better
        assert epochs == (trial.user_attrs["best_epoch"] if warm_better else scratch_epochs)
        checked += 1
    assert checked  # the best genotypes of a KS-NAS search include warm-started ones
