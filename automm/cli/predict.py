"""``automm predict``: an export's predictions for new rows, as a CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from automm.cli.app import app, out, user_errors
from automm.data.new_rows import read_new_rows
from automm.delivery.loading import load_model
from automm.delivery.predictions import BATCH_ROWS, predict_rows, write_predictions


@app.command()
@user_errors
def predict(
    model_dir: Annotated[Path, typer.Option("--model", help="An export folder (automm export, automm search).")],
    data: Annotated[
        Path, typer.Option(help="New rows: an .npz, a .mat or a folder of .npy files, views as for search.")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write.")] = Path("predictions.csv"),
    batch_size: Annotated[int, typer.Option(help="Rows predicted at a time.")] = BATCH_ROWS,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Predict new rows with an exported model: class (or label set) and per-class probabilities, one CSV row
    per input row in input order, with the input's id column when it has one."""
    model = load_model(model_dir)
    rows = read_new_rows(data, model.views)
    predicted, probabilities = predict_rows(model, rows, batch_size)
    path = write_predictions(out_file, model, rows, predicted, probabilities, overwrite=overwrite)
    out.print(escape(f"wrote {len(rows)} predictions ({len(model.class_names)} classes) to {path}"), highlight=False)
