"""SVG primitives for architecture diagrams: a document, rounded boxes with a label, curved edges.

Each method draws its own architecture with these (``automm/methods/<name>/diagram.py``).
"""

from __future__ import annotations

from html import escape

BOX_W, BOX_H, COL_W, ROW_H, MARGIN = 150, 34, 190, 52, 16


class SvgCanvas:
    """Collects shapes; `render` returns a standalone SVG document."""

    def __init__(self, width: float, height: float, title: str) -> None:
        self.width, self.height = width, height
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12">',
            f"<title>{escape(title)}</title>",
            '<rect width="100%" height="100%" fill="white"/>',
        ]

    def box(self, x: float, y: float, label: str, fill: str, text_fill: str = "black") -> None:
        """A rounded ``BOX_W`` x ``BOX_H`` box at (x, y) with a centred label."""
        self.parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" stroke="#333"/>'
        )
        self.parts.append(
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + BOX_H / 2 + 4:.0f}" text-anchor="middle" '
            f'fill="{text_fill}">{escape(label)}</text>'
        )

    def edge(self, x1: float, y1: float, x2: float, y2: float, width: float = 1.5) -> None:
        """A curve from (x1, y1) to (x2, y2), horizontal at both ends."""
        mid = (x1 + x2) / 2
        self.parts.append(
            f'<path d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}" '
            f'fill="none" stroke="#555" stroke-width="{width}"/>'
        )

    def render(self) -> str:
        return "\n".join([*self.parts, "</svg>"])
