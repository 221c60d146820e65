"""MMnas's primitive operations over token sequences, and the parts around them.

Every op is a block ``x -> LayerNorm(x + Dropout(f(x)))`` over (N, L, H) tokens with a (N, L) bool
mask (True: a real token; padded keys are never attended to):
- ``sa``: multi-head self-attention over the block's own tokens;
- ``ga``: guided attention, the decoder's tokens attending to the encoder's output (decoder only);
- ``ffn``: a two-layer feed-forward network applied to each token.
MMnas's relation self-attention (RSA) needs relation features between tokens (e.g. box geometry);
automm's token views carry none, so RSA is not offered.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from automm.data.tokens import mask_key

ENCODER_OPS = ("sa", "ffn")
DECODER_OPS = ("sa", "ga", "ffn")


class Attention(nn.Module):
    """Multi-head scaled dot-product attention of ``queries`` over ``keys`` (keys and values are both
    projected from ``keys``), padded keys masked out (PyTorch's fused `scaled_dot_product_attention`;
    no dropout on the attention weights)."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key_value = nn.Linear(hidden, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        n, length, hidden = queries.shape
        q = self.query(queries).view(n, length, self.heads, -1).transpose(1, 2)
        k, v = self.key_value(keys).view(n, keys.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :])
        return self.out(attended.transpose(1, 2).reshape(n, length, hidden))


class Block(nn.Module):
    """One op with its residual connection and LayerNorm; ``forward(x, mask, memory, memory_mask)``."""

    def __init__(self, op: str, hidden: int, heads: int, ffn_ratio: int, dropout: float) -> None:
        super().__init__()
        if op not in ("sa", "ga", "ffn"):
            raise ValueError(f"unknown MMnas op {op!r}")  # genotypes are checked before this
        self.op = op
        if op == "ffn":
            wide = ffn_ratio * hidden
            self.body: nn.Module = nn.Sequential(
                nn.Linear(hidden, wide), nn.ReLU(), nn.Dropout(dropout), nn.Linear(wide, hidden)
            )
        else:
            self.body = Attention(hidden, heads)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, memory: torch.Tensor | None, memory_mask: torch.Tensor | None
    ) -> torch.Tensor:
        if self.op == "ffn":
            out = self.body(x)
        elif self.op == "sa":
            out = self.body(x, x, mask)
        else:
            if memory is None or memory_mask is None:
                raise ValueError("guided attention needs the encoder's output")
            out = self.body(x, memory, memory_mask)
        return self.norm(x + self.drop(out))


class AttentionalFlattening(nn.Module):
    """MCAN's attentional flattening: a softmax over the real tokens of a learned score, the weighted
    sum of the tokens, then a linear layer: (N, L, H) -> (N, H)."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        return self.out((weights * x).sum(dim=1))


def sinusoid(length: int, hidden: int) -> torch.Tensor:
    """(length, hidden) sinusoidal position codes (Vaswani et al.), no parameters."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(torch.arange(0, hidden, 2, dtype=torch.float32) * (-math.log(10000.0) / hidden))
    codes = torch.zeros(length, hidden)
    codes[:, 0::2] = torch.sin(position * rate)
    codes[:, 1::2] = torch.cos(position * rate)[:, : hidden // 2]
    return codes


class SideEmbedding(nn.Module):
    """The tokens of one side (encoder or decoder) from its views: each view's tokens (a vector view
    is one token) go through ``Linear(d, H)`` and LayerNorm, plus a learned code of the view and a
    sinusoidal code of the position; the views' tokens are then concatenated, and so are their masks."""

    MAX_POSITIONS = 4096  # longest token view the position codes cover

    def __init__(self, views: tuple[str, ...], view_dims: dict[str, int], hidden: int, dropout: float) -> None:
        super().__init__()
        self.views = views
        self.project = nn.ModuleList(nn.Linear(view_dims[v], hidden) for v in views)
        self.norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in views)
        self.view_code = nn.Parameter(torch.zeros(len(views), hidden))
        self.register_buffer("positions", sinusoid(self.MAX_POSITIONS, hidden), persistent=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, masks = [], []
        for i, v in enumerate(self.views):
            x = inputs[v]
            if x.ndim == 2:
                x = x.unsqueeze(1)
            mask = inputs.get(mask_key(v))
            if mask is None:
                mask = torch.ones(x.shape[0], x.shape[1], dtype=torch.bool, device=x.device)
            h = self.norm[i](self.project[i](x)) + self.view_code[i] + self.positions[: x.shape[1]]
            tokens.append(h)
            masks.append(mask)
        return self.drop(torch.cat(tokens, dim=1)), torch.cat(masks, dim=1)
