"""SVG diagram of an MMnas genotype: the encoder's blocks on the top row, the decoder's below, then the head."""

from __future__ import annotations

from automm.core.svg import BOX_H, BOX_W, COL_W, MARGIN, ROW_H, SvgCanvas
from automm.methods.mmnas.space import MMNASGenotype

OP_COLOURS = {"sa": "#4e79a7", "ga": "#f28e2b", "ffn": "#59a14f"}
OP_NAMES = {"sa": "self-attention", "ga": "guided attention", "ffn": "feed-forward"}


def mmnas_svg(genotype: MMNASGenotype, view_dims: dict[str, int] | None = None) -> str:
    """A standalone SVG document drawing ``genotype``: inputs, blocks in order, flattening, head."""
    g = genotype
    columns = max(len(g.encoder), len(g.decoder))
    svg = SvgCanvas(MARGIN * 2 + (columns + 3) * COL_W + BOX_W, MARGIN * 2 + 3 * ROW_H, str(g))
    rows = ((0, g.x_views, g.encoder, "x"), (1, g.y_views, g.decoder, "y"))
    ends = []
    for row, views, blocks, side in rows:
        y = MARGIN + row * ROW_H
        dims = ", ".join(f"{v}[{view_dims[v]}]" if view_dims and v in view_dims else v for v in views)
        svg.box(MARGIN, y, f"{side}: {_short(dims)} -> H={g.hidden}", "#eef3f8")
        prev = MARGIN + BOX_W
        for b, op in enumerate(blocks):
            x = MARGIN + (b + 1) * COL_W
            svg.edge(prev, y + BOX_H / 2, x, y + BOX_H / 2)
            svg.box(x, y, f"{'enc' if row == 0 else 'dec'} {b}: {OP_NAMES[op]}", OP_COLOURS[op], "white")
            if op == "ga":  # attends to the encoder's output
                svg.edge(MARGIN + len(g.encoder) * COL_W + BOX_W / 2, MARGIN + BOX_H, x + BOX_W / 2, y, width=1.0)
            prev = x + BOX_W
        flat_x = MARGIN + (columns + 1) * COL_W
        svg.edge(prev, y + BOX_H / 2, flat_x, y + BOX_H / 2)
        svg.box(flat_x, y, "attentional flattening", "#d9e4f0")
        ends.append(y + BOX_H / 2)
    head_x = MARGIN + (columns + 2) * COL_W
    for y_end in ends:
        svg.edge(MARGIN + (columns + 1) * COL_W + BOX_W, y_end, head_x, MARGIN + 2 * ROW_H + BOX_H / 2, width=1.0)
    svg.box(head_x, MARGIN + 2 * ROW_H, f"sum, LayerNorm, FC ({g.heads} heads)", "#f5f5f5")
    return svg.render()


def _short(text: str) -> str:
    return text if len(text) <= 28 else text[:27] + "~"
