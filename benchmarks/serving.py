"""Serving the delivered model: ONNX Runtime (model.onnx) against PyTorch (`automm.load_model`), per 1,000 rows.

For each data set: a short KS-NAS search (N x T from ``--population`` / ``--generations``, automm's fold rule)
and the default delivery (the greedy ensemble of fold-network bags, the linear candidate in the pool), exported
with model.onnx. Then both are timed on 1,000 rows drawn from the data set (repeated to 1,000 when it has
fewer), in one batch and one row at a time (the first 100 rows, scaled to 1,000): the median of ``--repeats``
runs, after one warm-up, each with one thread (``torch.set_num_threads(1)``, ONNX Runtime's
``intra_op_num_threads = 1``). Also shown: what was delivered and the largest probability difference.

Usage: python benchmarks/serving.py [--datasets digits,cub,3sources] [--repeats 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import logging
import statistics
import tempfile
import time
from typing import Any

import numpy as np

try:
    from benchmarks._datasets import TEXT_SETS
    from benchmarks._results import record
    from benchmarks.versus_baselines import DATA_DIR
except ModuleNotFoundError:  # run as a script
    from _datasets import TEXT_SETS  # type: ignore[no-redef]
    from _results import record  # type: ignore[no-redef]
    from versus_baselines import DATA_DIR  # type: ignore[no-redef]

ROWS = 1000
SINGLE = 100  # rows served one at a time, scaled to ROWS


def _median_seconds(run, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _timings(model: Any, session: Any, views: dict[str, np.ndarray], repeats: int) -> tuple[float, ...]:
    """(PyTorch batch, ONNX Runtime batch, PyTorch one at a time, ONNX Runtime one at a time) seconds and the
    largest probability difference."""
    feed = {i.name: views[i.name] for i in session.get_inputs()}
    single = [{v: a[i : i + 1] for v, a in views.items()} for i in range(SINGLE)]
    torch_batch = _median_seconds(lambda: model.predict_proba(views), repeats)
    onnx_batch = _median_seconds(lambda: session.run(["probabilities"], feed), repeats)
    torch_one = _median_seconds(lambda: [model.predict_proba(r) for r in single], repeats)
    onnx_one = _median_seconds(lambda: [session.run(["probabilities"], r) for r in single], repeats)
    gap = float(np.abs(session.run(["probabilities"], feed)[0] - model.predict_proba(views)).max())
    return torch_batch, onnx_batch, torch_one, onnx_one, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="digits,cub,3sources")
    parser.add_argument("--population", type=int, default=6)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    args = parser.parse_args()
    import onnxruntime
    import optuna
    import torch

    import automm
    from automm.delivery.words import delivery_words

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    automm.set_verbosity(logging.WARNING)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    lines = [
        "| data set | delivered | batch of 1,000: PyTorch ms | ONNX Runtime ms | ratio | one row at a time, per 1,000: "
        "PyTorch ms | ONNX Runtime ms | ratio | largest probability difference |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
        with tempfile.TemporaryDirectory() as tmp:
            schedule = {"ksnas": {"population_size": args.population, "generations": args.generations}}
            if name in TEXT_SETS:
                study = automm.Study(data=Path(args.data_dir) / TEXT_SETS[name], runs_dir=tmp, **schedule)
            else:
                study = automm.Study(name, data_dir=args.data_dir, runs_dir=tmp, **schedule)
            study.optimize()
            exported = study.deliver(Path(tmp) / "model", onnx=True)
            model = automm.load_model(exported.path)
            ds = study.dataset
            rows = np.resize(np.arange(ds.n_samples), ROWS)
            views = {v: ds.views[v][rows].astype(np.float32) for v in model.views}
            session = onnxruntime.InferenceSession(
                str(exported.path / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
            torch_batch, onnx_batch, torch_one, onnx_one, gap = _timings(model, session, views, args.repeats)
            scale = ROWS / SINGLE
            lines.append(
                f"| {name} | {delivery_words(exported.members)} | {1e3 * torch_batch:.1f} | {1e3 * onnx_batch:.1f} | "
                f"{torch_batch / onnx_batch:.2f}x | {1e3 * torch_one * scale:.0f} | {1e3 * onnx_one * scale:.0f} | "
                f"{torch_one / onnx_one:.2f}x | {gap:.1e} |"
            )
            print(lines[-1], flush=True)
    body = "\n".join(
        [
            f"Each data set: KS-NAS N = {args.population}, T = {args.generations}, automm's fold rule and the "
            "default delivery, exported with model.onnx; 1,000 rows of the data set; median of "
            f"{args.repeats} runs after a warm-up, one thread each. ratio = PyTorch / ONNX Runtime (above 1: "
            "ONNX Runtime is faster).",
            "",
            *lines,
        ]
    )
    print(body)
    record("serving", "Serving the delivered model: ONNX Runtime against PyTorch, per 1,000 rows", body)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
