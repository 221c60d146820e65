"""The MMnas supernet: every candidate op of every block, with architecture logits and binary gates.

Block b holds one `automm.methods.mmnas.ops.Block` per candidate op and a logit per op
(``arch.encoder`` (E, 2), ``arch.decoder`` (D, 3)); p_b = softmax(logits_b). The network runs
in one of three modes (ProxylessNAS, Cai et al. 2019):
- `sample_path`: one op per block drawn from p_b; only that path runs and trains (a weight step);
- `sample_gates`: two different ops per block drawn from p_b, one of them picked with the pair's
  renormalised probabilities q; the block's output is ``g_a o_a + g_b o_b`` with binary gates
  ``g = onehot(pick) - q.detach() + q``, so its value is the picked op's output and the logits'
  gradient is BinaryConnect's, ``dL/dlogit_i = sum_j dL/dg_j q_j (delta_ij - q_i)`` (an arch step);
- eval mode (``net.eval()``): the argmax op of every block, the network `derive` returns.
"""

from __future__ import annotations

import torch
from torch import nn

from automm.methods.mmnas.model import EncoderDecoderBase
from automm.methods.mmnas.ops import DECODER_OPS, ENCODER_OPS, Block
from automm.methods.mmnas.space import MMNASGenotype


class ArchitectureLogits(nn.Module):
    """One logit per candidate op of every encoder and decoder block, all 0 at the start (uniform)."""

    def __init__(self, encoder_blocks: int, decoder_blocks: int) -> None:
        super().__init__()
        self.encoder = nn.Parameter(torch.zeros(encoder_blocks, len(ENCODER_OPS)))
        self.decoder = nn.Parameter(torch.zeros(decoder_blocks, len(DECODER_OPS)))

    def probabilities(self) -> dict[str, list[list[float]]]:
        """p per block, rounded, for the search's history."""
        return {
            side: [[round(float(p), 4) for p in row] for row in torch.softmax(logits.detach(), dim=1).cpu()]
            for side, logits in (("encoder", self.encoder), ("decoder", self.decoder))
        }


Gate = tuple[int, int, int]  # (op a, op b, which of the two is picked: 0 or 1)


class MMNASSupernet(EncoderDecoderBase):
    """All candidate ops over the given views (module docstring); ``forward`` takes the views by name."""

    def __init__(
        self,
        x_views: tuple[str, ...],
        y_views: tuple[str, ...],
        view_dims: dict[str, int],
        n_outputs: int,
        *,
        encoder_blocks: int,
        decoder_blocks: int,
        hidden: int,
        heads: int,
        ffn_ratio: int,
        dropout: float,
    ) -> None:
        super().__init__(x_views, y_views, view_dims, n_outputs, hidden, dropout)
        self.x_views, self.y_views, self.heads = x_views, y_views, heads
        self.hidden = hidden

        def candidates(ops: tuple[str, ...]) -> nn.ModuleList:
            return nn.ModuleList(Block(op, hidden, heads, ffn_ratio, dropout) for op in ops)

        self.encoder = nn.ModuleList(candidates(ENCODER_OPS) for _ in range(encoder_blocks))
        self.decoder = nn.ModuleList(candidates(DECODER_OPS) for _ in range(decoder_blocks))
        self.arch = ArchitectureLogits(encoder_blocks, decoder_blocks)
        self.path: tuple[list[int], list[int]] | None = None
        self.gates: tuple[list[Gate], list[Gate]] | None = None

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch.parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    # -- modes ------------------------------------------------------------------------------------
    def sample_path(self, generator: torch.Generator) -> None:
        """Weight-step mode: one op per block, drawn from its probabilities."""
        self.gates = None
        self.path = (
            _draw(self.arch.encoder, 1, generator)[:, 0].tolist(),
            _draw(self.arch.decoder, 1, generator)[:, 0].tolist(),
        )

    def sample_gates(self, generator: torch.Generator) -> None:
        """Arch-step mode: two ops per block and the pick between them (module docstring)."""
        self.path = None
        self.gates = (_gates(self.arch.encoder, generator), _gates(self.arch.decoder, generator))

    def argmax_path(self) -> tuple[list[int], list[int]]:
        return self.arch.encoder.argmax(dim=1).tolist(), self.arch.decoder.argmax(dim=1).tolist()

    def derive(self) -> MMNASGenotype:
        """The genotype of the argmax op of every block."""
        enc, dec = self.argmax_path()
        return MMNASGenotype(
            self.hidden,
            self.heads,
            self.x_views,
            self.y_views,
            tuple(ENCODER_OPS[i] for i in enc),
            tuple(DECODER_OPS[i] for i in dec),
        )

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, views: dict[str, torch.Tensor]) -> torch.Tensor:
        x, x_mask = self.embed_x(views)
        y, y_mask = self.embed_y(views)
        gated = self.training and self.gates is not None
        if self.training and self.path is not None:
            enc_path, dec_path = self.path
        else:
            enc_path, dec_path = self.argmax_path()
        for b, ops in enumerate(self.encoder):
            if gated:
                x = _gated(ops, self.arch.encoder[b], self.gates[0][b], x, x_mask, None, None)  # type: ignore[index]
            else:
                x = ops[enc_path[b]](x, x_mask, None, None)
        for b, ops in enumerate(self.decoder):
            if gated:
                y = _gated(ops, self.arch.decoder[b], self.gates[1][b], y, y_mask, x, x_mask)  # type: ignore[index]
            else:
                y = ops[dec_path[b]](y, y_mask, x, x_mask)
        return self.logits(x, x_mask, y, y_mask)


def _draw(logits: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """(blocks, k) different op indices per block drawn from softmax(logits) (on the CPU, for the generator)."""
    probs = torch.softmax(logits.detach().float().cpu(), dim=1)
    return torch.multinomial(probs, k, replacement=False, generator=generator)


def _gates(logits: torch.Tensor, generator: torch.Generator) -> list[Gate]:
    """Per block (rows of ``logits``): two different ops drawn from p, and the pick between them by q."""
    pairs = _draw(logits, 2, generator)
    rows = logits.detach().float().cpu()
    out = []
    for b, (a, c) in enumerate(pairs.tolist()):
        q = torch.softmax(rows[b, [a, c]], dim=0)
        out.append((a, c, int(torch.multinomial(q, 1, generator=generator)[0])))
    return out


def gate_values(logits: torch.Tensor, gate: Gate) -> torch.Tensor:
    """The two binary gates of ``gate``: their value is one-hot (the pick), their gradient flows to
    ``logits`` through the pair's renormalised probabilities (straight through, BinaryConnect)."""
    a, c, pick = gate
    q = torch.softmax(logits[[a, c]], dim=0)
    hard = torch.zeros_like(q)
    hard[pick] = 1.0
    return hard - q.detach() + q


def _gated(
    ops: nn.ModuleList,
    logits: torch.Tensor,
    gate: Gate,
    h: torch.Tensor,
    mask: torch.Tensor,
    memory: torch.Tensor | None,
    memory_mask: torch.Tensor | None,
) -> torch.Tensor:
    g = gate_values(logits, gate)
    return g[0] * ops[gate[0]](h, mask, memory, memory_mask) + g[1] * ops[gate[1]](h, mask, memory, memory_mask)
