"""The disk embedding cache serves only what it holds for these pixels: a damaged, cut or
misplaced entry is computed again with a warning, an unwritable folder means working
without it, and no entry is kept over the bound."""

import os
import shutil
import stat

import numpy as np
import pytest

from experiments.embedding_cache import EmbeddingCache

KEY = "tiny-0123456789abcdef"


def _images():
    rng = np.random.default_rng(0)
    return [(rng.random((40, 48, 3)) * 255).astype(np.uint8) for _ in range(2)]


def _entry(cache: EmbeddingCache) -> list[str]:
    folder = os.path.join(cache.directory, KEY)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder))


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "swapped"])
def test_a_damaged_or_misplaced_entry_is_computed_again_with_a_warning(
    tiny_model, tmp_path, damage
):
    a, b = _images()
    cache = EmbeddingCache(str(tmp_path))
    expected = cache.arrays(KEY, tiny_model, a)["features"]
    cache.arrays(KEY, tiny_model, b)
    path_a, path_b = (p for p in _entry(cache))  # Sorted by hash: which is which is found below.
    if np.array_equal(np.load(path_b)["features"], expected):
        path_a, path_b = path_b, path_a
    data = open(path_a, "rb").read()
    if damage == "truncated":
        open(path_a, "wb").write(data[: len(data) // 2])
    elif damage == "corrupted":
        open(path_a, "wb").write(data[:200] + bytes(b ^ 0xFF for b in data[200:400]) + data[400:])
    else:  # Another image's entry under this image's name.
        shutil.copy(path_b, path_a)
    with pytest.warns(UserWarning, match="a damaged embedding entry .*computed again"):
        again = cache.arrays(KEY, tiny_model, a)["features"]
    np.testing.assert_array_equal(again, expected)
    assert cache.misses == 3
    np.testing.assert_array_equal(cache.arrays(KEY, tiny_model, a)["features"], expected)
    assert cache.hits == 1  # Written again whole, then served.


def test_an_unwritable_folder_means_working_without_the_cache(tiny_model, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(folder, os.W_OK):  # Root ignores permissions: a file in the way instead.
            folder.chmod(0o755)
            folder = tmp_path / "file"
            folder.write_text("not a folder")
        with pytest.warns(UserWarning, match="cannot be written .*working without it"):
            cache = EmbeddingCache(str(folder / "embeddings"))
        a, _ = _images()
        first = cache.arrays(KEY, tiny_model, a)["features"]
        np.testing.assert_array_equal(cache.arrays(KEY, tiny_model, a)["features"], first)
        assert cache.misses == 2 and not cache.writable
    finally:
        if folder.is_dir():
            folder.chmod(0o755)


def test_no_entry_is_kept_over_the_bound(tiny_model, tmp_path):
    a, b = _images()
    unbounded = EmbeddingCache(str(tmp_path / "all"))
    unbounded.arrays(KEY, tiny_model, a)
    one = unbounded.size()
    small = EmbeddingCache(str(tmp_path / "small"), max_bytes=one // 2)
    small.arrays(KEY, tiny_model, a)
    assert small.size() == 0  # Larger than the bound alone: computed, not kept.
    bounded = EmbeddingCache(str(tmp_path / "bounded"), max_bytes=int(1.5 * one))
    bounded.arrays(KEY, tiny_model, a)
    bounded.arrays(KEY, tiny_model, b)
    assert 0 < bounded.size() <= 1.5 * one
