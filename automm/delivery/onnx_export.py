"""The serving file of an export: ``model.onnx``, checked against automm's own predictions.

`write_onnx` exports a serving module (raw views in; standardisation, every member and their
combination inside) with ``torch.onnx.export(..., dynamo=True)``:

- inputs: one float32 tensor per view, named by the view (``image/googlenet``), (N, d); a token view
  (N, L, d) with its bool padding mask ``<view>_mask`` (N, L) (all True without padding); N and L are
  dynamic;
- outputs: ``logits`` (for an ensemble, scores whose softmax, or sigmoid for multilabel, is the
  weighted mean of the members' probabilities) and ``probabilities``.

`verify_onnx` runs the file in ONNX Runtime on seeded random rows drawn at the scale of the training
data and refuses it unless its probabilities equal the loaded export's `predict_proba` within
`TOLERANCE`. Both need the ``onnx`` extra (onnx, onnxscript, onnxruntime); `onnx_available` says
whether it is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from automm.core.errors import AutommError
from automm.data.tokens import mask_key

ONNX_FILE = "model.onnx"
OUTPUTS = ("logits", "probabilities")
TOLERANCE = 1e-5  # largest absolute difference of a probability, ONNX Runtime vs PyTorch
CHECK_ROWS = 64
EXTRA = "pip install 'automm[onnx]'"
REQUIRED = ("onnx", "onnxscript", "onnxruntime")


def onnx_available() -> bool:
    """Whether the ``onnx`` extra (everything `write_onnx` and `verify_onnx` import) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in REQUIRED)


def export_seconds(networks: int = 1) -> float:
    """About how long writing an export folder of ``networks`` networks takes. With ``model.onnx``, the
    export traces every network into one graph and checks it in ONNX Runtime, so the time grows with them:
    on 2 cores about 2 s plus 0.8 s a network (14 s for an ensemble of three 5-fold bags, 5 s for two
    networks and the linear candidate). Without it, half a second."""
    return 2.0 + 0.8 * max(1, networks) if onnx_available() else 0.5


def input_names(views: list[str], token_views: list[str]) -> list[str]:
    """The ONNX inputs, in order: every view (sorted), then each token view's mask."""
    return [*views, *(mask_key(v) for v in token_views)]


class _PositionalServing(nn.Module):
    """``serving`` (a dict of named tensors -> logits) with positional inputs and both outputs."""

    def __init__(self, serving: nn.Module, names: list[str], multiclass: bool) -> None:
        super().__init__()
        self.serving = serving
        self.names = names
        self.multiclass = multiclass

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.serving(dict(zip(self.names, inputs, strict=True)))
        probabilities = torch.softmax(logits, dim=1) if self.multiclass else torch.sigmoid(logits)
        return logits, probabilities


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's own chatter, nothing of automm's or the user's: torch.onnx's log lines about
    optional torchvision operators, and two warnings raised inside torch's exporter code that a user
    cannot act on (torch 2.13: pytree's ``LeafSpec`` deprecation from ``copyreg``, and the note that
    views sharing the batch axis share its name). Narrow by message; tracked in issue 29."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
            warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used")
            yield
    finally:
        logger.setLevel(level)


def write_onnx(
    serving: nn.Module,
    path: Path,
    *,
    views: list[str],
    view_dims: dict[str, int],
    token_lengths: dict[str, int],
    multiclass: bool,
) -> None:
    """Export ``serving`` (raw views -> logits) to ``path`` as ONNX (see the module docstring)."""
    if not onnx_available():
        raise AutommError(f"writing {ONNX_FILE} needs ONNX: {EXTRA}")
    tokens = [v for v in views if v in token_lengths]
    names = input_names(views, tokens)
    module = _PositionalServing(serving, names, multiclass).eval()
    example: list[torch.Tensor] = [
        torch.zeros(2, token_lengths[v], view_dims[v]) if v in token_lengths else torch.zeros(2, view_dims[v])
        for v in views
    ]
    example += [torch.ones(2, token_lengths[v], dtype=torch.bool) for v in tokens]
    batch = torch.export.Dim("batch")
    lengths = {v: torch.export.Dim(f"tokens_{i}") for i, v in enumerate(tokens)}
    shapes: list[dict[int, Any]] = [{0: batch, 1: lengths[v]} if v in lengths else {0: batch} for v in views]
    shapes += [{0: batch, 1: lengths[v]} for v in tokens]
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                module,
                tuple(example),
                input_names=names,
                output_names=list(OUTPUTS),
                dynamic_shapes=(tuple(shapes),),
                dynamo=True,
                verbose=False,
            )
            program.save(str(path))
    except AutommError:
        raise
    except Exception as exc:  # the exporter raises many kinds; the user gets one line
        detail = " ".join(str(exc).split())[:300]
        raise AutommError(f"exporting {ONNX_FILE} failed ({type(exc).__name__}: {detail})") from exc


def sample_rows(meta: dict[str, Any], mean: dict[str, np.ndarray], scale: dict[str, np.ndarray]) -> dict[str, Any]:
    """`CHECK_ROWS` seeded random raw rows at the training data's scale (token views with random masks
    of at least one real token, at their training token count)."""
    rng = np.random.default_rng(0)
    tokens = meta.get("token_lengths") or {}
    rows: dict[str, np.ndarray] = {}
    for v, width in meta["view_dims"].items():
        shape = (CHECK_ROWS, tokens[v], width) if v in tokens else (CHECK_ROWS, width)
        rows[v] = (mean[v] + scale[v] * rng.standard_normal(shape)).astype(np.float32)
        if v in tokens:
            mask = rng.random(shape[:2]) < 0.7
            mask[:, 0] = True
            rows[mask_key(v)] = mask
    return rows


def onnx_probabilities(path: Path, rows: dict[str, np.ndarray]) -> np.ndarray:
    """ONNX Runtime's ``probabilities`` for ``rows`` (every input of the file, by name)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: rows[i.name] for i in session.get_inputs()}
    return session.run(["probabilities"], feed)[0]


def verify_onnx(path: Path, model: Any) -> float:
    """The largest probability difference between ONNX Runtime on ``path`` and ``model`` (a loaded
    `FusionModel`) on `sample_rows`; raises `AutommError` above `TOLERANCE`."""
    rows = sample_rows(model.meta, model.mean, model.scale)
    try:
        served = onnx_probabilities(path, rows)
    except Exception as exc:  # onnxruntime's errors are of its own kinds
        detail = " ".join(str(exc).split())[:300]
        raise AutommError(f"{ONNX_FILE} does not run in ONNX Runtime ({type(exc).__name__}: {detail})") from exc
    expected = model.predict_proba(rows)
    gap = float(np.abs(served - expected).max()) if served.shape == expected.shape else float("inf")
    if not gap <= TOLERANCE:
        raise AutommError(
            f"{ONNX_FILE} disagrees with the exported model (largest probability difference {gap:.2e}, "
            f"tolerance {TOLERANCE:.0e}); nothing was exported"
        )
    return gap
