import xml.etree.ElementTree as ET

from automm.methods.ksnas.diagram import genotype_svg
from automm.methods.ksnas.space import Genotype


def test_svg_is_valid_and_names_every_part():
    g = Genotype.from_string("concat(add(a/x,c/z),b/y)")
    svg = genotype_svg(g, {"a/x": 5, "b/y": 3, "c/z": 4}, 16)
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "a/x [5]" in texts and "b/y [3]" in texts and "c/z [4]" in texts
    assert texts.count("align FC -> 16") == 3
    assert "add (node 0)" in texts and "concat (node 1)" in texts and "head FC -> classes" in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) == 3 + 4 + 1  # view->align, node inputs, head
    assert root.find("{http://www.w3.org/2000/svg}title").text == str(g)


def test_single_view_and_escaping():
    svg = genotype_svg(Genotype(("a&b/x<1>",)))
    ET.fromstring(svg)  # still well-formed XML
    assert "a&amp;b/x&lt;1&gt;" in svg
