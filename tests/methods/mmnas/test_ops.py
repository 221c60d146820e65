"""MMnas ops over tokens: shapes, masks (padded keys are never read), flattening, embeddings."""

import pytest
import torch

from automm.methods.mmnas.ops import AttentionalFlattening, Block, SideEmbedding, sinusoid

H = 8


def _tokens(n=3, length=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, length, H, generator=g)
    mask = torch.tensor([[True] * length, [True, True, False, False, False], [True, False, False, False, False]])
    return x, mask


@pytest.mark.parametrize("op", ["sa", "ga", "ffn"])
def test_every_op_keeps_the_shape_and_ignores_what_padding_holds(op):
    torch.manual_seed(0)
    block = Block(op, H, heads=2, ffn_ratio=2, dropout=0.0).eval()
    x, mask = _tokens()
    memory, memory_mask = _tokens(length=5, seed=1)
    out = block(x, mask, memory, memory_mask)
    assert out.shape == x.shape and torch.isfinite(out).all()
    x2, memory2 = x.clone(), memory.clone()
    x2[~mask] = 100.0  # padded queries and keys of the block's own tokens
    memory2[~memory_mask] = -50.0  # padded keys of the encoder's output
    out2 = block(x2, mask, memory2, memory_mask)
    assert torch.allclose(out[mask], out2[mask], atol=1e-5)  # real tokens do not see padding


def test_self_attention_mixes_tokens_and_feed_forward_does_not():
    torch.manual_seed(0)
    x, mask = _tokens()
    for op, mixes in (("sa", True), ("ffn", False)):
        block = Block(op, H, heads=2, ffn_ratio=2, dropout=0.0).eval()
        changed = x.clone()
        changed[0, 4] += 1.0
        moved = (block(changed, mask, None, None) - block(x, mask, None, None))[0, 0].abs().max()
        assert (moved > 1e-4) == mixes


def test_guided_attention_needs_the_encoder_output():
    block = Block("ga", H, heads=2, ffn_ratio=2, dropout=0.0)
    x, mask = _tokens()
    with pytest.raises(ValueError, match="encoder's output"):
        block(x, mask, None, None)
    with pytest.raises(ValueError, match="unknown MMnas op"):
        Block("rsa", H, 2, 2, 0.0)


def test_attentional_flattening_weights_only_real_tokens():
    torch.manual_seed(0)
    flat = AttentionalFlattening(H, 0.0).eval()
    x, mask = _tokens()
    out = flat(x, mask)
    assert out.shape == (3, H)
    x2 = x.clone()
    x2[~mask] = 1e3
    assert torch.allclose(out, flat(x2, mask), atol=1e-5)
    # one real token: its own (linearly mapped) value, whatever the scores
    assert torch.allclose(out[2], flat.out(x[2, 0]), atol=1e-5)


def test_side_embedding_takes_token_and_vector_views_and_concatenates_their_masks():
    torch.manual_seed(0)
    embed = SideEmbedding(("text/tokens", "image/vec"), {"text/tokens": 3, "image/vec": 4}, H, 0.0)
    tokens = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    h, m = embed({"text/tokens": tokens, "text/tokens_mask": mask, "image/vec": torch.randn(2, 4)})
    assert h.shape == (2, 6, H) and m.tolist() == [[True, True, True, False, False, True], [True] * 6]
    # positions are told apart: the same token at two places gets two codes
    same = torch.zeros(1, 2, 3)
    h2, _ = embed({"text/tokens": same, "image/vec": torch.zeros(1, 4)})
    assert not torch.allclose(h2[0, 0], h2[0, 1])
    codes = sinusoid(10, H)
    assert codes.shape == (10, H) and torch.allclose(codes[0, 1::2], torch.ones(H // 2))
