import json

import numpy as np
import pytest

from automm.core.errors import AutommError
from automm.extract.manifest import read_manifest


@pytest.fixture
def images(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_csv_with_single_labels_and_split(images):
    path = images / "m.csv"
    path.write_text(
        "id,image:photo,text:caption,label,split\n1,a.jpg,red,cat,train\n2,b.jpg,blue,dog,dev\n3,c.jpg,x,cat,test\n"
    )
    m = read_manifest(path)
    assert m.task == "multiclass" and m.class_names == ["cat", "dog"] and m.labels.tolist() == [0, 1, 0]
    assert m.images["photo"][1] == (images / "b.jpg").resolve() and m.texts["caption"] == ["red", "blue", "x"]
    assert {k: v.tolist() for k, v in m.split_indices().items()} == {"train": [0], "val": [1], "test": [2]}
    assert m.ids == ["1", "2", "3"]


def test_jsonl_multilabel_lists_and_csv_pipes_agree(images):
    rows = [{"image:p": "a.jpg", "labels": ["x", "y"]}, {"image:p": "b.jpg", "labels": ["y"]}]
    (images / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (images / "m.csv").write_text("image:p,labels\na.jpg,x|y\nb.jpg,y\n")
    for name in ("m.jsonl", "m.csv"):
        m = read_manifest(images / name)
        assert m.task == "multilabel" and m.class_names == ["x", "y"]
        np.testing.assert_array_equal(m.labels, [[1, 1], [0, 1]])
        assert m.split is None and m.split_indices() == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image:p,label\nmissing.jpg,a\n", r"row 1: image file 'missing\.jpg' not found"),
        ("image:p,label,split\na.jpg,a,holdout\n", "split 'holdout' is not train, val or test"),
        ("image:p\na.jpg\n", "no 'label'"),
        ("label,other\na,b\n", r"no 'image:<name>' or 'text:<name>' column"),
        ("image:my.photo,label\na.jpg,a\n", "name must be non-empty"),
        ("text:t,label\nhello,\n", "empty label"),
        ("image:p,label\n", "no rows"),
        ("text:t,label,split\nx,a,train\ny,b,val\n", "needs train and test rows"),
    ],
)
def test_errors_name_the_row_or_column(images, text, message):
    (images / "m.csv").write_text(text)
    with pytest.raises(AutommError, match=message):
        read_manifest(images / "m.csv")


def test_file_level_errors(images):
    with pytest.raises(AutommError, match="no such manifest"):
        read_manifest(images / "none.csv")
    (images / "m.txt").write_text("x")
    with pytest.raises(AutommError, match=r"\.csv or \.jsonl"):
        read_manifest(images / "m.txt")
    (images / "m.jsonl").write_text('{"text:t": "a", "label": "x"}\nnot json\n')
    with pytest.raises(AutommError, match=r"m\.jsonl:2: not a JSON object"):
        read_manifest(images / "m.jsonl")
    (images / "m.jsonl").write_text('{"text:t": "a", "label": "x"}\n{"text:t": "b"}\n')
    with pytest.raises(AutommError, match="row 2 has other columns"):
        read_manifest(images / "m.jsonl")
