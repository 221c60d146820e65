"""SVG diagram of a KS-NAS genotype: views -> alignment -> fusion nodes -> head, left to right."""

from __future__ import annotations

from automm.core.svg import BOX_H, BOX_W, COL_W, MARGIN, ROW_H, SvgCanvas
from automm.methods.ksnas.space import Genotype

OP_COLOURS = {
    "add": "#4e79a7",
    "mul": "#f28e2b",
    "concat": "#59a14f",
    "max": "#e15759",
    "avg": "#b07aa1",
    "attention": "#9c755f",
    "glu": "#76b7b2",
}


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
    xs = [MARGIN + (d + 1) * COL_W for d in depth]
    svg = SvgCanvas(MARGIN * 2 + (head_col + 1) * COL_W + BOX_W, MARGIN * 2 + max(k, 1) * ROW_H, str(genotype))
    fd = f" -> {fusion_dim}" if fusion_dim else ""
    for i, view in enumerate(genotype.views):  # view box, then its alignment layer one column right
        dims = f" [{view_dims[view]}]" if view_dims and view in view_dims else ""
        svg.box(MARGIN, ys[i], f"{view}{dims}", "#eef3f8")
        svg.edge(MARGIN + BOX_W, ys[i] + BOX_H / 2, xs[i], ys[i] + BOX_H / 2)
        svg.box(xs[i], ys[i], f"align FC{fd}", "#d9e4f0")
    for j, node in enumerate(genotype.nodes):
        slot = k + j
        for child in (node.left, node.right):
            svg.edge(xs[child] + BOX_W, ys[child] + BOX_H / 2, xs[slot], ys[slot] + BOX_H / 2)
        svg.box(xs[slot], ys[slot], f"{node.op} (node {j})", OP_COLOURS[node.op], "white")
    head_x = MARGIN + head_col * COL_W + COL_W
    svg.edge(xs[last] + BOX_W, ys[last] + BOX_H / 2, head_x, ys[last] + BOX_H / 2)
    svg.box(head_x, ys[last], "head FC -> classes", "#f5f5f5")
    return svg.render()
