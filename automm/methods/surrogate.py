"""`SequenceSurrogate`: a small recurrent model predicting validation scores of architectures.

An architecture is a sequence of token vectors (``space.tokens(genotype)``: MFAS layers, or
KS-NAS slots). As in the MFAS code: Linear(tokens -> 100) + sigmoid, an LSTM(100), and
Linear(100 -> 1) + sigmoid on the last state, trained with MSE and Adam (lr 1e-3). Scores
are standardised for training and mapped back for prediction. Seeded: the same evidence
gives the same model in every worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from automm.core.device import seed_torch
from automm.engine.optimiser import adam


class _Net(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Linear(width, hidden)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            torch.sigmoid(self.embed(x)), lengths, batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.lstm(packed)
        return torch.sigmoid(self.out(h[-1])).squeeze(-1)


class SequenceSurrogate:
    """Fit on (genotype, score) pairs of a space; predict scores of unseen genotypes."""

    def __init__(self, space: Any, *, hidden: int = 100, epochs: int = 300, seed: int = 0) -> None:
        self.space = space
        self.hidden = hidden
        self.epochs = epochs
        self.seed = seed
        self._net: _Net | None = None
        self._low, self._high = 0.0, 1.0

    def _batch(self, genotypes: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        seqs = [torch.from_numpy(self.space.tokens(g)) for g in genotypes]
        lengths = torch.tensor([len(s) for s in seqs])
        return nn.utils.rnn.pad_sequence(seqs, batch_first=True), lengths

    def fit(self, genotypes: Sequence[Any], scores: Sequence[float]) -> SequenceSurrogate:
        if not genotypes:
            raise ValueError("the surrogate needs at least one evaluated architecture")
        seed_torch(self.seed)
        x, lengths = self._batch(genotypes)
        y = torch.tensor(np.asarray(scores, dtype=np.float32))
        # scores are squeezed into (0.1, 0.9) so the sigmoid output can reach every one of them
        self._low, self._high = float(y.min()), float(y.max())
        span = max(self._high - self._low, 1e-6)
        target = 0.1 + 0.8 * (y - self._low) / span
        self._net = _Net(x.shape[-1], self.hidden)
        optimiser = adam(self._net.parameters(), lr=1e-3)
        for _ in range(self.epochs):
            optimiser.zero_grad()
            loss = nn.functional.mse_loss(self._net(x, lengths), target)
            loss.backward()
            optimiser.step()
        return self

    @torch.no_grad()
    def predict(self, genotypes: Sequence[Any]) -> np.ndarray:
        if self._net is None:
            raise RuntimeError("fit the surrogate first")
        x, lengths = self._batch(genotypes)
        span = max(self._high - self._low, 1e-6)
        return ((self._net(x, lengths).numpy() - 0.1) / 0.8 * span + self._low).astype(np.float64)
