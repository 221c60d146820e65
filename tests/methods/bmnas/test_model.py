"""BM-NAS feature maps of vector and token views, and a BM-NAS search over token views."""

import numpy as np
import torch

import automm
from automm.methods.bmnas.model import FeatureMap, chunk_means
from tests.conftest import make_token_toy


def test_a_vector_view_is_a_linear_layer_reshaped_to_positions():
    torch.manual_seed(0)
    fmap = FeatureMap(5, channels=3, length=4, dropout=0.0)
    x = torch.randn(2, 5)
    expected = torch.nn.functional.layer_norm(fmap.linear(x).view(2, 4, 3), (3,), fmap.norm.weight, fmap.norm.bias)
    assert torch.allclose(fmap(x), expected, atol=1e-6)


def test_a_token_view_gives_each_position_the_mean_of_its_chunk_of_real_tokens():
    tokens = torch.arange(24, dtype=torch.float32).view(1, 6, 4)
    assert torch.allclose(chunk_means(tokens, None, 3)[0, 1], tokens[0, 2:4].mean(dim=0))
    mask = torch.tensor([[True, True, True, False, False, False]])
    chunks = chunk_means(tokens, mask, 3)
    assert torch.allclose(chunks[0, 1], tokens[0, 2]) and (chunks[0, 2] == 0).all()  # padding left out
    torch.manual_seed(0)
    fmap = FeatureMap(4, channels=3, length=3, dropout=0.0)
    garbage = tokens.clone()
    garbage[~mask] = 1e3
    assert torch.allclose(fmap(tokens, mask), fmap(garbage, mask))
    # one token per position: position l is W_l token_l + b_l, the vector path's weights
    one_each = torch.randn(2, 3, 4)
    out = fmap(one_each)
    weight = fmap.linear.weight.view(3, 3, 4)
    raw = torch.stack([one_each[:, i] @ weight[i].T for i in range(3)], dim=1) + fmap.linear.bias.view(3, 3)
    assert torch.allclose(out, torch.nn.functional.layer_norm(raw, (3,), fmap.norm.weight, fmap.norm.bias), atol=1e-5)


def test_bmnas_searches_over_token_views_and_its_export_reads_tokens(tmp_path):
    small = {"channels": 8, "length": 2, "cells": 1, "steps": 1, "epochs": 3, "warmup": 1}
    study = automm.Study(make_token_toy(), method="bmnas", runs_dir=tmp_path, folds=1, ensemble_size=1, bmnas=small)
    assert study.dataset.token_lengths  # not pooled
    study.optimize(1)
    model = automm.load_model(study.export(tmp_path / "m", genotype=study.best_genotype))
    assert model.token_views == {"text/tokens": 6, "image/grid": 4}
    ds = study.dataset
    test = ds.splits.test
    views = {v: ds.views[v][test] for v in ds.view_names} | {"text/tokens_mask": ds.masks["text/tokens"][test]}
    proba = model.predict_proba(views)
    assert proba.shape == (len(test), 4) and np.isfinite(proba).all()
