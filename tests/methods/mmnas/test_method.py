"""The MMnas method's members: export info, the thread rule's work, settings on the command line."""

import dataclasses

import numpy as np
import torch

import automm
from automm.delivery.networks import network_from_export
from automm.methods.mmnas.method import MMNASMethod
from automm.settings import SearchConfig
from tests.conftest import make_token_toy


def _method(**settings):
    return MMNASMethod({"mmnas": settings})


def test_a_network_is_rebuilt_from_its_export_info():
    method = _method(hidden=8, heads=2, ffn_ratio=3)
    ds = make_token_toy()
    space = method.make_space(tuple(ds.view_names), SearchConfig())
    genotype = space.parse("mmnas(H=8,heads=2,x(text/tokens),y(image/grid),enc(ffn),dec(ga,ffn))")
    net = method.build_net(space, genotype, ds.view_dims, ds.n_classes, SearchConfig(dropout=0.2))
    meta = {
        **method.export_info(space, SearchConfig(dropout=0.2)),
        "genotype": str(genotype),
        "view_dims": ds.view_dims,
        "class_names": ds.class_names,
    }
    rebuilt = network_from_export(meta)
    rebuilt.load_state_dict(net.state_dict())  # same shapes, ffn width 3 x H included
    assert rebuilt.encoder[0].body[0].out_features == 24
    batch = {"text/tokens": torch.randn(3, 6, 3), "image/grid": torch.randn(3, 4, 2)}
    assert torch.allclose(rebuilt.eval()(batch), net.eval()(batch))


def test_the_thread_rule_counts_tokens_and_blocks():
    ds = make_token_toy()
    config = SearchConfig()
    small = _method(hidden=8, heads=2).batch_work(ds, config)
    deeper = _method(hidden=8, heads=2, encoder_blocks=4, decoder_blocks=6).batch_work(ds, config)
    longer = dataclasses.replace(
        ds,
        views={**ds.views, "text/tokens": ds.views["text/tokens"].repeat(10, axis=1)},
        masks={"text/tokens": ds.masks["text/tokens"].repeat(10, axis=1)},
    )
    assert 0 < small < deeper and small < _method(hidden=8, heads=2).batch_work(longer, config)


def test_the_vector_methods_see_token_views_pooled_and_mmnas_sees_tokens(tmp_path):
    ds = make_token_toy()
    mm = automm.Study(ds, method="mmnas", runs_dir=tmp_path, study_name="mm")
    ks = automm.Study(ds, method="ksnas", runs_dir=tmp_path, study_name="ks")
    assert mm.dataset.token_lengths == {"text/tokens": 6, "image/grid": 4}
    assert ks.dataset.token_lengths == {} and ks.dataset.view_dims == mm.dataset.view_dims
    assert "E=2, D=3 blocks, H=32, 4 heads, 10 search epochs" in mm.method.describe()


def test_mmnas_handles_multilabel_tasks(tmp_path):
    ds = make_token_toy()
    a, b = ds.labels // 2, ds.labels % 2
    multi = dataclasses.replace(ds, labels=np.stack([a, b, a & b], axis=1), task="multilabel", class_names=[])
    small = {"encoder_blocks": 1, "decoder_blocks": 1, "hidden": 8, "heads": 2, "epochs": 2, "warmup": 1}
    study = automm.Study(multi, method="mmnas", runs_dir=tmp_path, folds=1, ensemble_size=1, mmnas=small)
    study.optimize(1)
    assert study.metric == "weighted_f1" and 0 <= study.best_value <= 1
    model = automm.load_model(study.export(tmp_path / "m"))
    test = multi.splits.test
    views = {v: multi.views[v][test] for v in multi.view_names} | {"text/tokens_mask": multi.masks["text/tokens"][test]}
    assert model.predict(views).shape == (len(test), 3) and set(np.unique(model.predict(views))) <= {0, 1}
