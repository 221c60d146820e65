"""``automm extract``: raw images and texts -> multi-level features (the ``extract`` extra)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.markup import escape
from rich.table import Table

from automm.cli.app import app, err, out, user_errors
from automm.core.errors import AutommError
from automm.core.paths import default_data_dir
from automm.extract.backbones import IMAGE_BACKBONES, TEXT_BACKBONES


def _parse_levels(specs: list[str]) -> dict[str, list[str]]:
    """``BACKBONE=L1,L2`` options -> {backbone: [levels]}."""
    levels: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name or not value:
            raise AutommError(
                f"--levels {spec!r}: expected BACKBONE=LEVEL[,LEVEL...], e.g. efficientnet_lite0=stage3,head"
            )
        levels[name.strip()] = [v.strip() for v in value.split(",") if v.strip()]
    return levels


@app.command()
@functools.partial(user_errors, interrupted="finished batches are in the feature cache")
def extract(
    manifest: Annotated[
        Path | None, typer.Argument(help="CSV/JSONL manifest: image:<name>, text:<name>, label(s), split columns.")
    ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the features here (.npz) for --data.")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Instead of a manifest: a raw registered data set (mmimdb).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where registered data sets live.")] = None,
    image_backbone: Annotated[
        list[str] | None, typer.Option(help=f"Image backbone, repeatable: {', '.join(IMAGE_BACKBONES)}.")
    ] = None,
    text_backbone: Annotated[
        list[str] | None, typer.Option(help=f"Text backbone, repeatable: {', '.join(TEXT_BACKBONES)}.")
    ] = None,
    levels: Annotated[
        list[str] | None,
        typer.Option(
            help="Depths to keep, repeatable: BACKBONE=L1,L2. Known: efficientnet_lite0 stage1..stage7, head; "
            "vgg19 pool3, pool4, pool5, fc6, fc7; minilm embeddings, layer1..layer6."
        ),
    ] = None,
    vgg19_weights: Annotated[
        Path | None, typer.Option(help="torchvision's vgg19-dcbb9e9d.pth (else hub cache).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Inputs per forward pass.")] = 32,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Feature cache (default $AUTOMM_CACHE_DIR or ~/.cache/automm).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="torch device (default: cuda if available, else cpu).")] = None,
    grid: Annotated[
        int | None,
        typer.Option(help="Image token views: each map average-pooled to GRID x GRID tokens instead of its mean."),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(help="Text token views: up to MAX_TOKENS token states with a padding mask instead of the mean."),
    ] = None,
) -> None:
    """Turn raw images and texts into multi-level features from pretrained backbones (cached on disk)."""
    from automm.data.features import to_dataset
    from automm.data.mmimdb import load_mmimdb_raw, raw_present, read_raw_manifest
    from automm.extract import extract_views, load_backbone, read_manifest, write_features
    from automm.extract.pipeline import ConsoleProgress

    if (manifest is None) == (dataset is None):
        raise AutommError("give a manifest file or --dataset mmimdb (one of them)")
    if batch_size < 1:
        raise AutommError(f"--batch-size must be at least 1, got {batch_size}")
    images = image_backbone or ["efficientnet_lite0"]
    texts = text_backbone or ["minilm"]
    for name in images:
        if name not in IMAGE_BACKBONES:
            raise AutommError(f"--image-backbone {name!r}: known image backbones are {', '.join(IMAGE_BACKBONES)}")
    for name in texts:
        if name not in TEXT_BACKBONES:
            raise AutommError(f"--text-backbone {name!r}: known text backbones are {', '.join(TEXT_BACKBONES)}")
    chosen = _parse_levels(levels or [])
    stray = set(chosen) - set(images) - set(texts)
    if stray:
        raise AutommError(f"--levels names backbone(s) not in use: {', '.join(sorted(stray))}")
    if dataset is not None:
        if dataset.lower() != "mmimdb":
            raise AutommError(f"--dataset {dataset!r}: only mmimdb has a raw form to extract")
        base = (data_dir or default_data_dir()).expanduser()
        folder = next((d for d in (base, base / "mmimdb") if raw_present(d)), None)
        if folder is None:
            raise AutommError(f"mmimdb: no raw release (split.json + dataset/) in {base} or {base / 'mmimdb'}")
        defaults = images == ["efficientnet_lite0"] and texts == ["minilm"] and not chosen
        if out_file is None and not defaults:
            raise AutommError(
                "`search --dataset mmimdb` uses the default backbones; pass --out FILE.npz to keep these "
                "features and search them with --data FILE.npz"
            )
        if out_file is None and (grid or max_tokens):
            raise AutommError("token views of mmimdb need --out FILE.npz (search them with --data FILE.npz)")
        if out_file is None:
            ds = load_mmimdb_raw(folder, cache_dir=cache_dir)
            out.print(f"[bold]{escape(ds.summary())}[/bold]: features cached; run `automm search --dataset mmimdb`")
            return
        rows = read_raw_manifest(folder)
    else:
        assert manifest is not None
        rows = read_manifest(manifest)
    torch_device = torch.device(device) if device else None
    backbones = []
    for name in (*(images if rows.images else []), *(texts if rows.texts else [])):
        options: dict[str, Any] = {"device": torch_device}
        if name == "vgg19":
            options["weights"] = vgg19_weights
        backbone = load_backbone(name, chosen.get(name), **options)
        tokens = grid if backbone.modality == "image" else max_tokens
        backbones.append(backbone if tokens is None else backbone.with_tokens(tokens))
    with ConsoleProgress(err) as bars:
        views = extract_views(rows, backbones, cache_dir=cache_dir, batch_size=batch_size, progress=bars)
    ds = to_dataset(rows, views)
    table = Table(title=f"{rows.name}: {len(rows)} samples, {ds.task}, {len(rows.class_names)} classes")
    table.add_column("view")
    table.add_column("width", justify="right")
    for view, label in zip(ds.view_names, ds.view_labels(), strict=True):
        table.add_row(view, label.removeprefix(view)[1:-1])
    out.print(table)
    if out_file is None:
        out.print("features cached; pass --out FILE.npz to write them for `automm search --data FILE.npz`")
        return
    path = write_features(out_file, rows, views)
    out.print(escape(f"wrote {path}; search it with: automm search --data {path}"), highlight=False, soft_wrap=True)
