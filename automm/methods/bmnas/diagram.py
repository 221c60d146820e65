"""SVG diagram of a BM-NAS genotype: views -> feature maps -> cells (their steps below) -> head."""

from __future__ import annotations

from automm.core.svg import BOX_H, BOX_W, COL_W, MARGIN, ROW_H, SvgCanvas
from automm.methods.bmnas.space import BMNASGenotype

OP_COLOURS = {"sum": "#4e79a7", "attention": "#f28e2b", "glu": "#b07aa1", "concatfc": "#59a14f"}


def bmnas_svg(genotype: BMNASGenotype, view_dims: dict[str, int] | None = None) -> str:
    """A standalone SVG document drawing ``genotype``: each cell is a column, its steps under it."""
    views = list(genotype.views)
    n_cells = len(genotype.cells)
    most_steps = max(len(c.steps) for c in genotype.cells)
    height = MARGIN * 2 + max(len(views), 1 + most_steps) * ROW_H
    svg = SvgCanvas(MARGIN * 2 + (n_cells + 2) * COL_W + BOX_W, height, str(genotype))
    shape = f"{genotype.length} x {genotype.channels}"
    where: dict[str, tuple[float, float]] = {}  # node name -> (right edge x, middle y)
    for i, v in enumerate(views):
        y = MARGIN + i * ROW_H
        dims = f"[{view_dims[v]}] " if view_dims and v in view_dims else ""
        svg.box(MARGIN, y, f"{v} {dims}-> {shape}", "#eef3f8")
        where[v] = (MARGIN + BOX_W, y + BOX_H / 2)
    for k, cell in enumerate(genotype.cells):
        x = MARGIN + (k + 1) * COL_W
        for slot, name in (("x", cell.x), ("y", cell.y)):
            x1, y1 = where[name]
            svg.edge(x1, y1, x, MARGIN + BOX_H / 2 + (-6 if slot == "x" else 6))
        svg.box(x, MARGIN, f"cell {k}: x={_short(cell.x)}, y={_short(cell.y)}", "#d9e4f0")
        for j, step in enumerate(cell.steps):
            label = f"step {j}: {step.op}({step.x},{step.y})"
            svg.box(x, MARGIN + (j + 1) * ROW_H, label, OP_COLOURS[step.op], "white")
        where[f"cell.{k}"] = (x + BOX_W, MARGIN + BOX_H / 2)
    head_x = MARGIN + (n_cells + 1) * COL_W
    for k in range(n_cells):
        x1, y1 = where[f"cell.{k}"]
        svg.edge(x1, y1, head_x, MARGIN + BOX_H / 2, width=1.0)
    svg.box(head_x, MARGIN, "head FC -> classes", "#f5f5f5")
    return svg.render()


def _short(name: str) -> str:
    return name if len(name) <= 12 else name[:11] + "~"
