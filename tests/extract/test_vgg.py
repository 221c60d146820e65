import pytest
import torch

from automm.core.errors import AutommError
from automm.extract import backbones
from automm.extract.vgg import LEVELS, VGG19


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A VGG19 state dict in torchvision's file format (random values: the real file is a 548 MB download)."""
    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.manual_seed(0)
    torch.save(VGG19().state_dict(), path)
    return path


def test_parameter_names_match_torchvision_layout():
    names = set(VGG19().state_dict())
    convs = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    expected = {f"features.{i}.{p}" for i in convs for p in ("weight", "bias")}
    expected |= {f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")}
    assert names == expected


def test_backbone_from_a_weights_file_gives_every_level(weights, tmp_path):
    pytest.importorskip("PIL", reason="needs Pillow (automm[extract])")
    from tests.extract.fakes import write_jpeg

    bb = backbones.vgg19(tuple(LEVELS), device=torch.device("cpu"), weights=weights)
    feats = bb.encode([write_jpeg(tmp_path / "a.jpeg", (10, 100, 200), seed=0)])
    assert {k: v.shape for k, v in feats.items()} == {k: (1, w) for k, w in LEVELS.items()}
    assert (feats["fc7"] >= 0).all()  # after ReLU, as the MM-IMDB fc7 features


def test_wrong_or_absent_weights_are_one_line_errors(tmp_path, monkeypatch):
    other = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, other)
    with pytest.raises(AutommError, match="does not hold vgg19 weights"):
        backbones.vgg19(weights=other)
    with pytest.raises(AutommError, match="not found"):
        backbones.vgg19(weights=tmp_path / "absent.pth")
    pickled = tmp_path / "code.pth"
    torch.save({"x": object()}, pickled)
    with pytest.raises(AutommError, match="tensor-only state dict"):
        backbones.vgg19(weights=pickled)

    def offline(url, dst, progress=True):
        raise OSError("network is unreachable")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(AutommError, match=r"download from https://download\.pytorch\.org/models/vgg19"):
        backbones.vgg19()
