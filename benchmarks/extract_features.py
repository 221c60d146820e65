"""`automm extract`: throughput, cache speed-up, and whether the pretrained multi-level features carry signal.

1. MNIST test images (real photos of digits, 28x28 -> 224x224) through EfficientNet-Lite0 at all 8
   depths: images/s cold, then the same extraction again from the feature cache (ratio).
2. The same images through an untrained EfficientNet-Lite0 (same definition, random weights).
3. Linear probe (logistic regression, seeded 60/20/20 split, fit on train+validation, test accuracy)
   per depth and on all depths concatenated, pretrained vs random: proves the package weights load
   into our definition and that depth matters.
4. A short automm search over the pretrained depths (TPE), its best genotype retrained and tested.
5. MiniLM on synthetic plot-length texts and VGG19 (random weights: speed only) throughput.

Usage: python benchmarks/extract_features.py [--data-dir ../shared/data] [--images 2000] [--texts 500]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's automm and benchmarks first

import argparse
import logging
import tempfile
import time

import numpy as np
import optuna
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression

import automm
from automm.data.avmnist import read_mnist
from automm.data.features import to_dataset
from automm.data.preprocess import Standardizer
from automm.extract import backbones as bb
from automm.extract import efficientnet_lite, vgg
from automm.extract.manifest import Manifest
from automm.extract.pipeline import extract_views

try:
    from benchmarks._results import record
except ModuleNotFoundError:  # run as a script
    from _results import record  # type: ignore[no-redef]


def mnist_manifest(data_dir: Path, n: int, folder: Path) -> Manifest:
    images, labels = read_mnist(data_dir)
    images, labels = np.round(images[:n] * 255).astype(np.uint8), labels[:n]  # the files' own bytes again
    paths = []
    for i, img in enumerate(images):
        paths.append(folder / f"{i}.png")
        Image.fromarray(img).save(paths[-1])
    return Manifest(
        "mnist-effnet", [str(i) for i in range(n)], {"digit": paths}, {}, labels, [str(d) for d in range(10)]
    )


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def probe(views: dict[str, np.ndarray], names: list[str], ds: automm.MultimodalDataset) -> float:
    fit = np.concatenate([ds.splits.train, ds.splits.val])
    chosen = {k: views[k] for k in names}
    st = Standardizer.fit(chosen, fit)
    x_fit = np.concatenate(list(st.transform(chosen, fit).values()), axis=1)
    x_test = np.concatenate(list(st.transform(chosen, ds.splits.test).values()), axis=1)
    model = LogisticRegression(C=0.1, max_iter=3000, random_state=0).fit(x_fit, ds.labels[fit])
    return float((model.predict(x_test) == ds.labels[ds.splits.test]).mean())


def network_rate(net: torch.nn.Module, layout: torch.memory_format, levels: tuple[str, ...], reps: int = 4) -> float:
    """Images/s of ``net.forward_levels`` alone on a fixed batch of 32, in the given memory layout."""
    net = net.to(memory_format=layout)
    batch = torch.rand(32, 3, 224, 224).contiguous(memory_format=layout)
    with torch.no_grad():
        net.forward_levels(batch, levels)  # warm-up
        start = time.perf_counter()
        for _ in range(reps):
            net.forward_levels(batch, levels)
    return reps * 32 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--vgg-images", type=int, default=64)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import automm

    automm.set_verbosity(logging.WARNING)  # no line per trial
    torch.manual_seed(0)
    levels = tuple(efficientnet_lite.LEVELS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "img").mkdir()
        manifest = mnist_manifest(args.data_dir, args.images, tmp_path / "img")
        pretrained = bb.efficientnet_lite0(levels, device=torch.device("cpu"))
        views, cold = timed(lambda: extract_views(manifest, [pretrained], cache_dir=tmp_path / "cache"))
        _, warm = timed(lambda: extract_views(manifest, [pretrained], cache_dir=tmp_path / "cache"))
        random_net = efficientnet_lite.EfficientNetLite0().eval()
        untrained = bb.Backbone("untrained", "image", levels, dict(efficientnet_lite.LEVELS), "random", random_net)
        random_views, _ = timed(lambda: extract_views(manifest, [untrained], cache_dir=tmp_path / "cache"))
        rows.append(("EfficientNet-Lite0, 8 depths, cold", args.images, cold, args.images / cold))
        net = efficientnet_lite.EfficientNetLite0().eval()
        rates: dict[torch.memory_format, list[float]] = {torch.contiguous_format: [], torch.channels_last: []}
        for _ in range(3):  # interleaved, so a change of machine speed hits both layouts alike
            for layout in rates:
                rates[layout].append(network_rate(net, layout, levels))
        nchw, nhwc = (float(np.median(r)) for r in rates.values())
        rows.append(("same, again from the feature cache", args.images, warm, args.images / warm))

        ds = to_dataset(manifest, views, seed=0)
        probes = []
        for level in levels:
            probes.append(
                (
                    level,
                    efficientnet_lite.LEVELS[level],
                    probe(views, [f"digit/efficientnet_lite0_{level}"], ds),
                    probe(random_views, [f"digit/untrained_{level}"], ds),
                )
            )
        all_pre = probe(views, list(views), ds)
        all_rand = probe(random_views, list(random_views), ds)

        study = automm.Study(ds, sampler="tpe", seed=0, runs_dir=tmp_path / "runs")
        study.optimize(args.trials)
        searched = study.evaluate(seeds=2)

        texts = [
            " ".join(np.random.default_rng(i).choice(["a", "man", "love", "city", "war", "the", "finds"], 150))
            for i in range(args.texts)
        ]
        text_manifest = Manifest(
            "plots", [str(i) for i in range(args.texts)], {}, {"plot": texts}, np.zeros(args.texts, np.int64), ["x"]
        )
        minilm = bb.minilm(tuple(bb.MINILM_LEVELS), device=torch.device("cpu"))
        _, t_cold = timed(lambda: extract_views(text_manifest, [minilm], cache_dir=tmp_path / "cache"))
        _, t_warm = timed(lambda: extract_views(text_manifest, [minilm], cache_dir=tmp_path / "cache"))
        rows.append(("MiniLM, 7 depths, 150-word texts, cold", args.texts, t_cold, args.texts / t_cold))
        rows.append(("same, again from the feature cache", args.texts, t_warm, args.texts / t_warm))

        vgg_net = vgg.VGG19().eval()
        vgg_bb = bb.Backbone("vgg19r", "image", tuple(vgg.LEVELS), dict(vgg.LEVELS), "random", vgg_net)
        small = Manifest(
            "v",
            manifest.ids[: args.vgg_images],
            {"digit": manifest.images["digit"][: args.vgg_images]},
            {},
            manifest.labels[: args.vgg_images],
            manifest.class_names,
        )
        _, v_cold = timed(lambda: extract_views(small, [vgg_bb], cache_dir=tmp_path / "cache"))
        rows.append(
            ("VGG19 (random weights: speed only), 5 depths, cold", args.vgg_images, v_cold, args.vgg_images / v_cold)
        )

    lines = ["| extraction | items | seconds | items/s |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {n} | {s:.1f} | {n / s:.1f} |" for name, n, s, _ in rows]
    lines.append("")
    lines.append(
        f"EfficientNet-Lite0 network alone (batch 32, median of 3 interleaved runs): {nchw:.1f} images/s in NCHW, "
        f"{nhwc:.1f} in channels_last ({nhwc / nchw:.2f}x); extraction uses channels_last."
    )
    lines.append(f"Cache speed-up (cold / warm): images {cold / warm:.0f}x, texts {t_cold / t_warm:.0f}x.")
    lines.append(
        f"At the cold rate, MM-IMDB's 25,959 posters take {25959 / (args.images / cold) / 60:.0f} min "
        f"and its plots {25959 / (args.texts / t_cold) / 60:.0f} min on this machine (once)."
    )
    lines.append("")
    lines.append(
        f"Linear probe, MNIST test images ({len(ds.splits.train) + len(ds.splits.val)} fit / "
        f"{len(ds.splits.test)} test):"
    )
    lines.append("")
    lines.append("| depth | width | pretrained | untrained |")
    lines.append("|---|---:|---:|---:|")
    lines += [f"| {lv} | {w} | {p:.3f} | {r:.3f} |" for lv, w, p, r in probes]
    lines.append(f"| all 8 concatenated | {sum(efficientnet_lite.LEVELS.values())} | {all_pre:.3f} | {all_rand:.3f} |")
    lines.append("")
    lines.append(
        f"automm search over the 8 pretrained depths (TPE, {args.trials} trials): best validation "
        f"{study.best_value:.3f}, `{study.best_genotype}`, retrained on train+validation, test "
        f"{searched.mean:.3f} ± {searched.std:.3f} (2 seeds)."
    )
    body = "\n".join(lines)
    print(body)
    record("extract_features", "Feature extraction (`automm extract`)", body)


if __name__ == "__main__":
    main()
