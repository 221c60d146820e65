import numpy as np
import pytest

from automm.extract.cache import FeatureCache, file_key, text_key


def _feats(keys):
    rows = np.array([[float(int(k, 16) % 97)] * 2 for k in keys], dtype=np.float32)
    return {"a": rows, "b": rows[:, :1] * 2}


def test_store_gather_and_reuse_across_instances(tmp_path):
    keys = [text_key(t) for t in ("x", "y", "z")]
    cache = FeatureCache(tmp_path, "bb-1", ("a", "b"))
    assert cache.missing([*keys, keys[0]]) == keys
    cache.store(keys[:2], _feats(keys[:2]))
    again = FeatureCache(tmp_path, "bb-1", ("a", "b"))
    assert again.missing(keys) == [keys[2]] and len(again) == 2
    again.store(keys[2:], _feats(keys[2:]))
    got = again.gather([keys[2], keys[0], keys[0]])
    np.testing.assert_array_equal(got["a"], _feats([keys[2], keys[0], keys[0]])["a"])
    assert got["b"].shape == (3, 1)
    assert FeatureCache(tmp_path, "bb-2", ("a", "b")).missing(keys) == keys  # another extractor shares nothing
    with pytest.raises(KeyError):
        again.gather([text_key("never")])


def test_damaged_shards_and_leftover_temp_files_are_ignored(tmp_path):
    keys = [text_key("x")]
    cache = FeatureCache(tmp_path, "bb", ("a", "b"))
    cache.store(keys, _feats(keys))
    (cache.folder / ".shard-half.safetensors.123.tmp").write_bytes(b"interrupted")
    shard = next(cache.folder.glob("shard-*.safetensors"))
    shard.write_bytes(b"\x00" * 10)
    fresh = FeatureCache(tmp_path, "bb", ("a", "b"))
    assert fresh.missing(keys) == keys and not shard.exists()


def test_keys_depend_on_content_only(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"same")
    (tmp_path / "b.bin").write_bytes(b"same")
    (tmp_path / "c.bin").write_bytes(b"other")
    assert file_key(tmp_path / "a.bin") == file_key(tmp_path / "b.bin") != file_key(tmp_path / "c.bin")
    assert text_key("same") != file_key(tmp_path / "a.bin")  # a text never collides with a file of its bytes
