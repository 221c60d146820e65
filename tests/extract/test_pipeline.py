import numpy as np
import pytest

from automm.data.features import to_dataset
from automm.data.npzfile import load_npz
from automm.extract import pipeline
from automm.extract.manifest import Manifest
from automm.extract.pipeline import encode_column, extract_views, write_features

pytest.importorskip("PIL", reason="needs Pillow (automm[extract])")
from tests.extract.fakes import fake_image_backbone, write_jpeg


@pytest.fixture
def manifest(tmp_path):
    paths = [write_jpeg(tmp_path / f"{i}.jpeg", (i * 20, 50, 200 - i * 20), seed=i) for i in range(10)]
    paths.append(paths[0])  # the same file twice is encoded once
    labels = np.array([i % 2 for i in range(11)])
    split = ["train"] * 6 + ["val"] * 2 + ["test"] * 3
    return Manifest("m", [str(i) for i in range(11)], {"photo": paths}, {}, labels, ["even", "odd"], split)


def test_only_missing_inputs_are_encoded_and_rows_stay_aligned(manifest, tmp_path):
    bb = fake_image_backbone()
    calls = []
    views = extract_views(manifest, [bb], cache_dir=tmp_path / "c", batch_size=4, progress=lambda *a: calls.append(a))
    assert bb.network.seen == 10 and calls[-1][1:] == (10, 10)
    assert set(views) == {"photo/colour_mean", "photo/colour_square"}
    np.testing.assert_array_equal(views["photo/colour_mean"][0], views["photo/colour_mean"][10])
    fresh = fake_image_backbone()
    fresh.network, fresh.build = None, lambda: pytest.fail("a network was built for fully cached features")
    again = extract_views(manifest, [fresh], cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(again["photo/colour_square"], views["photo/colour_square"])


def test_an_interrupted_extraction_resumes_where_it_stopped(manifest, tmp_path):
    bb = fake_image_backbone()
    real = bb.encode

    def flaky(inputs):
        if bb.network.seen >= 4:
            raise KeyboardInterrupt
        return real(inputs)

    bb.encode = flaky
    with pytest.raises(KeyboardInterrupt):
        encode_column(manifest.images["photo"], bb, tmp_path / "c", batch_size=4)
    resumed = fake_image_backbone()
    encode_column(manifest.images["photo"], resumed, tmp_path / "c", batch_size=4)
    assert resumed.network.seen == 6  # the first finished batch of 4 was kept


def test_written_features_load_as_a_dataset_with_the_manifest_split(manifest, tmp_path):
    views = extract_views(manifest, [fake_image_backbone()], cache_dir=tmp_path / "c")
    path = write_features(tmp_path / "out" / "f.npz", manifest, views)
    ds = load_npz(path)
    assert ds.class_names == ["even", "odd"] and ds.view_dims == {"photo/colour_mean": 3, "photo/colour_square": 3}
    assert ds.splits.val.tolist() == [6, 7] and ds.splits.test.tolist() == [8, 9, 10]
    assert to_dataset(manifest, views).splits.train.tolist() == list(range(6))
    assert not list((tmp_path / "out").glob(".*tmp*"))


def test_without_validation_rows_the_loader_carves_them_from_train(manifest, tmp_path):
    manifest.split = ["train"] * 8 + ["test"] * 3
    views = extract_views(manifest, [fake_image_backbone()], cache_dir=tmp_path / "c")
    ds = load_npz(write_features(tmp_path / "f.npz", manifest, views))
    assert ds.splits.test.tolist() == [8, 9, 10] and len(ds.splits.val) > 0
    assert set(ds.splits.train) | set(ds.splits.val) == set(range(8))


def test_a_column_without_a_backbone_of_its_modality_is_refused(manifest, tmp_path):
    manifest.texts["caption"] = ["x"] * len(manifest)
    with pytest.raises(pipeline.AutommError, match="text:caption has no text backbone"):
        extract_views(manifest, [fake_image_backbone()], cache_dir=tmp_path)
