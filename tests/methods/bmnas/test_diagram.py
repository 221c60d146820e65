import xml.etree.ElementTree as ET

from automm.methods.bmnas.diagram import bmnas_svg
from automm.methods.bmnas.space import BMNASGenotype

TEXT = "bmnas(C=16,L=4,cell(image/fc,audio/fc,glu(y,x),concatfc(x,step.0)),cell(cell.0,audio/fc,sum(x,y)))"
SVG = "{http://www.w3.org/2000/svg}"


def test_the_diagram_draws_views_cells_steps_and_the_head():
    svg = bmnas_svg(BMNASGenotype.from_string(TEXT), {"image/fc": 64, "audio/fc": 32, "unused": 5})
    root = ET.fromstring(svg)  # a well-formed standalone document
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert labels == [
        "image/fc [64] -> 4 x 16",
        "audio/fc [32] -> 4 x 16",
        "cell 0: x=image/fc, y=audio/fc",
        "step 0: glu(y,x)",
        "step 1: concatfc(x,step.0)",
        "cell 1: x=cell.0, y=audio/fc",
        "step 0: sum(x,y)",
        "head FC -> classes",
    ]
    edges = list(root.iter(f"{SVG}path"))
    assert len(edges) == 2 * 2 + 2  # two inputs per cell, every cell to the head
    assert root.find(f"{SVG}title").text == TEXT
