import numpy as np
import optuna
import pytest
import torch

from automm.core.errors import AutommError
from automm.methods.mfas.model import MFASNet
from automm.methods.mfas.space import MFASGenotype, MFASLayer, MFASSpace

VIEWS = ("image/l1", "image/l2", "image/l3", "text/a", "text/b")
SPACE = MFASSpace(VIEWS, max_layers=3)


def test_layer_choices_are_the_papers_gamma():
    assert SPACE.modalities == {"image": ("image/l1", "image/l2", "image/l3"), "text": ("text/a", "text/b")}
    assert len(SPACE.layer_choices()) == 3 * 2 * 3  # M x N x P
    three = MFASSpace((*VIEWS, "audio/x", "audio/y"), max_layers=2)
    assert len(three.layer_choices()) == 3 * 2 * 2 * 3  # one feature from each modality


def test_round_trips_and_strings():
    rng = np.random.default_rng(0)
    for _ in range(300):
        g = SPACE.random_genotype(rng)
        assert SPACE.decode(SPACE.encode(g)) == g
        assert MFASGenotype.from_string(str(g)) == g
    g = MFASGenotype.from_string("relu(image/l2+text/a)>sigmoid(image/l3+text/a)")
    assert g.views == ("image/l2", "text/a", "image/l3")
    study = optuna.create_study()
    study.enqueue_trial(SPACE.encode(g))
    assert SPACE.suggest(study.ask()) == g


@pytest.mark.parametrize("text", ["relu(image/l1", "tanh(image/l1+text/a)", "", "relu()"])
def test_malformed(text):
    with pytest.raises(AutommError):
        MFASGenotype.from_string(text)


def test_net_follows_the_layer_equation():
    g = MFASGenotype((MFASLayer(("image/l1", "text/b"), "relu"), MFASLayer(("image/l3", "text/a"), "sigmoid")))
    dims = {v: i + 2 for i, v in enumerate(VIEWS)}
    net = MFASNet(g, dims, 4, SPACE.hidden, 0.0)
    assert net.layers[0][0].in_features == dims["image/l1"] + dims["text/b"]
    assert net.layers[1][0].in_features == dims["image/l3"] + dims["text/a"] + SPACE.hidden
    x = {v: torch.randn(5, d) for v, d in dims.items()}
    h1 = torch.relu(net.layers[0][0](torch.cat([x["image/l1"], x["text/b"]], 1)))
    h2 = torch.sigmoid(net.layers[1][0](torch.cat([x["image/l3"], x["text/a"], h1], 1)))
    assert torch.allclose(net.eval()(x), net.head(h2))
    assert SPACE.tokens(g).shape == (2, 3 + 2 + 3) and SPACE.tokens(g).sum() == 6
