"""SVG diagram of an MFAS chain: each layer's chosen views feed it, layers feed each other, then the head."""

from __future__ import annotations

from automm.core.svg import BOX_H, BOX_W, COL_W, MARGIN, ROW_H, SvgCanvas
from automm.methods.mfas.space import MFASGenotype


def mfas_svg(genotype: MFASGenotype, view_dims: dict[str, int] | None = None, hidden: int | None = None) -> str:
    """A standalone SVG document drawing ``genotype`` (view widths and the layer width if given)."""
    views = list(genotype.views)
    n_layers = len(genotype.layers)
    svg = SvgCanvas(
        MARGIN * 2 + (n_layers + 2) * COL_W + BOX_W, MARGIN * 2 + max(len(views), 2) * ROW_H + ROW_H, str(genotype)
    )
    view_y = {v: MARGIN + i * ROW_H for i, v in enumerate(views)}
    layer_y = MARGIN + len(views) * ROW_H
    mid = layer_y + BOX_H / 2
    width_note = f" -> {hidden}" if hidden else ""
    for v, y in view_y.items():
        dims = f" [{view_dims[v]}]" if view_dims and v in view_dims else ""
        svg.box(MARGIN, y, v + dims, "#eef3f8")
    for i, layer in enumerate(genotype.layers):
        x = MARGIN + (i + 1) * COL_W
        for f in layer.features:
            svg.edge(MARGIN + BOX_W, view_y[f] + BOX_H / 2, x, mid, width=1.2)
        if i:
            svg.edge(x - COL_W + BOX_W, mid, x, mid)
        svg.box(x, layer_y, f"layer {i}: {layer.activation}{width_note}", "#59a14f", "white")
    x = MARGIN + (n_layers + 1) * COL_W
    svg.edge(x - COL_W + BOX_W, mid, x, mid)
    svg.box(x, layer_y, "head FC -> classes", "#f5f5f5")
    return svg.render()
