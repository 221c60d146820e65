"""SVG diagram of a genotype: views -> alignment -> fusion nodes -> head, left to right."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from automm.space import Genotype

if TYPE_CHECKING:
    from automm.space_mfas import MFASGenotype

BOX_W, BOX_H, COL_W, ROW_H, MARGIN = 150, 34, 190, 52, 16
OP_COLOURS = {"add": "#4e79a7", "mul": "#f28e2b", "concat": "#59a14f", "max": "#e15759", "avg": "#b07aa1"}


def genotype_svg(genotype: Genotype, view_dims: dict[str, int] | None = None, fusion_dim: int | None = None) -> str:
    """A standalone SVG document drawing ``genotype`` (view widths and FD are labelled if given)."""
    k = genotype.k
    depth: list[int] = [0] * k
    ys: list[float] = [MARGIN + i * ROW_H for i in range(k)]
    for node in genotype.nodes:
        depth.append(1 + max(depth[node.left], depth[node.right]))
        ys.append((ys[node.left] + ys[node.right]) / 2)
    last = len(depth) - 1
    head_col = depth[last] + 1
    width = MARGIN * 2 + (head_col + 1) * COL_W + BOX_W
    height = MARGIN * 2 + max(k, 1) * ROW_H
    xs = [MARGIN + (d + 1) * COL_W for d in depth]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(str(genotype))}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
    ]

    def box(x: float, y: float, label: str, fill: str, text_fill: str = "black") -> None:
        parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" stroke="#333"/>'
        )
        parts.append(
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + BOX_H / 2 + 4:.0f}" text-anchor="middle" '
            f'fill="{text_fill}">{escape(label)}</text>'
        )

    def edge(x1: float, y1: float, x2: float, y2: float) -> None:
        parts.append(
            f'<path d="M{x1:.0f},{y1:.0f} C{(x1 + x2) / 2:.0f},{y1:.0f} {(x1 + x2) / 2:.0f},{y2:.0f} '
            f'{x2:.0f},{y2:.0f}" fill="none" stroke="#555" stroke-width="1.5"/>'
        )

    fd = f" -> {fusion_dim}" if fusion_dim else ""
    for i, view in enumerate(genotype.views):  # view box, then its alignment layer one column right
        dims = f" [{view_dims[view]}]" if view_dims and view in view_dims else ""
        box(MARGIN, ys[i], f"{view}{dims}", "#eef3f8")
        edge(MARGIN + BOX_W, ys[i] + BOX_H / 2, xs[i], ys[i] + BOX_H / 2)
        box(xs[i], ys[i], f"align FC{fd}", "#d9e4f0")
    for j, node in enumerate(genotype.nodes):
        slot = k + j
        for child in (node.left, node.right):
            edge(xs[child] + BOX_W, ys[child] + BOX_H / 2, xs[slot], ys[slot] + BOX_H / 2)
        box(xs[slot], ys[slot], f"{node.op} (node {j})", OP_COLOURS[node.op], "white")
    head_x = MARGIN + head_col * COL_W + COL_W
    edge(xs[last] + BOX_W, ys[last] + BOX_H / 2, head_x, ys[last] + BOX_H / 2)
    box(head_x, ys[last], "head FC -> classes", "#f5f5f5")
    parts.append("</svg>")
    return "\n".join(parts)


def mfas_svg(genotype: MFASGenotype, view_dims: dict[str, int] | None = None, hidden: int | None = None) -> str:
    """A standalone SVG of an MFAS chain: each layer's chosen views feed it, layers feed each other."""
    views = list(genotype.views)
    n_layers = len(genotype.layers)
    width = MARGIN * 2 + (n_layers + 2) * COL_W + BOX_W
    height = MARGIN * 2 + max(len(views), 2) * ROW_H + ROW_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(str(genotype))}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    view_y = {v: MARGIN + i * ROW_H for i, v in enumerate(views)}
    layer_y = MARGIN + len(views) * ROW_H
    width_note = f" -> {hidden}" if hidden else ""
    for v, y in view_y.items():
        dims = f" [{view_dims[v]}]" if view_dims and v in view_dims else ""
        parts.append(
            f'<rect x="{MARGIN}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#eef3f8" stroke="#333"/>'
        )
        parts.append(
            f'<text x="{MARGIN + BOX_W / 2:.0f}" y="{y + BOX_H / 2 + 4:.0f}" text-anchor="middle">'
            f"{escape(v + dims)}</text>"
        )
    for i, layer in enumerate(genotype.layers):
        x = MARGIN + (i + 1) * COL_W
        for f in layer.features:
            y = view_y[f] + BOX_H / 2
            parts.append(
                f'<path d="M{MARGIN + BOX_W},{y:.0f} C{x - 20},{y:.0f} {x - 20},{layer_y + BOX_H / 2:.0f} '
                f'{x},{layer_y + BOX_H / 2:.0f}" fill="none" stroke="#555" stroke-width="1.2"/>'
            )
        if i:
            parts.append(
                f'<path d="M{x - COL_W + BOX_W},{layer_y + BOX_H / 2:.0f} H{x}" stroke="#555" stroke-width="1.5"/>'
            )
        parts.append(
            f'<rect x="{x}" y="{layer_y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#59a14f" stroke="#333"/>'
        )
        parts.append(
            f'<text x="{x + BOX_W / 2:.0f}" y="{layer_y + BOX_H / 2 + 4:.0f}" text-anchor="middle" '
            f'fill="white">{escape(f"layer {i}: {layer.activation}{width_note}")}</text>'
        )
    x = MARGIN + (n_layers + 1) * COL_W
    parts.append(f'<path d="M{x - COL_W + BOX_W},{layer_y + BOX_H / 2:.0f} H{x}" stroke="#555" stroke-width="1.5"/>')
    parts.append(f'<rect x="{x}" y="{layer_y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#f5f5f5" stroke="#333"/>')
    parts.append(
        f'<text x="{x + BOX_W / 2:.0f}" y="{layer_y + BOX_H / 2 + 4:.0f}" text-anchor="middle">'
        "head FC -> classes</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
