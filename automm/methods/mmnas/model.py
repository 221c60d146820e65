"""`MMNASNet`: the derived MMnas encoder-decoder, a fixed op per block (MCAN when the ops are MCAN's).

x's tokens pass the encoder blocks in order; y's tokens pass the decoder blocks, whose guided
attention attends to the encoder's output. Each side ends in attentional flattening; the two
vectors are summed, normalised, and a linear head gives the logits (multi-class or multi-label).
"""

from __future__ import annotations

import torch
from torch import nn

from automm.methods.mmnas.ops import AttentionalFlattening, Block, SideEmbedding
from automm.methods.mmnas.space import MMNASGenotype


class EncoderDecoderBase(nn.Module):
    """What the derived network and the supernet share: the embeddings, the flattening and the head."""

    def __init__(
        self,
        x_views: tuple[str, ...],
        y_views: tuple[str, ...],
        view_dims: dict[str, int],
        n_outputs: int,
        hidden: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.view_order = list(x_views + y_views)
        self.embed_x = SideEmbedding(x_views, view_dims, hidden, dropout)
        self.embed_y = SideEmbedding(y_views, view_dims, hidden, dropout)
        self.flatten_x = AttentionalFlattening(hidden, dropout)
        self.flatten_y = AttentionalFlattening(hidden, dropout)
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_outputs)

    def logits(self, x: torch.Tensor, x_mask: torch.Tensor, y: torch.Tensor, y_mask: torch.Tensor) -> torch.Tensor:
        fused = self.norm(self.flatten_x(x, x_mask) + self.flatten_y(y, y_mask))
        return self.head(self.drop(fused))


class MMNASNet(EncoderDecoderBase):
    """The network of one genotype; ``forward`` takes the views by name (token views with their masks)."""

    def __init__(
        self,
        genotype: MMNASGenotype,
        view_dims: dict[str, int],
        n_outputs: int,
        dropout: float = 0.1,
        ffn_ratio: int = 2,
    ) -> None:
        g = genotype
        super().__init__(g.x_views, g.y_views, view_dims, n_outputs, g.hidden, dropout)
        self.genotype = genotype
        self.encoder = nn.ModuleList(Block(op, g.hidden, g.heads, ffn_ratio, dropout) for op in g.encoder)
        self.decoder = nn.ModuleList(Block(op, g.hidden, g.heads, ffn_ratio, dropout) for op in g.decoder)

    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        x, x_mask = self.embed_x(views)
        y, y_mask = self.embed_y(views)
        for block in self.encoder:
            x = block(x, x_mask, None, None)
        for block in self.decoder:
            y = block(y, y_mask, x, x_mask)
        return self.logits(x, x_mask, y, y_mask)
