import numpy as np
import pytest
from PIL import Image

from eigjax.data import DataError, read_image, read_mask, to_uint8_rgb


@pytest.mark.parametrize(
    "array,expected",
    [
        (np.array([[0, 255]], np.uint8), [[[0, 0, 0], [255, 255, 255]]]),
        (np.array([[[10, 20, 30, 0]]], np.uint8), [[[10, 20, 30]]]),  # RGBA: alpha dropped
        (np.array([[[7, 99]]], np.uint8), [[[7, 7, 7]]]),  # gray + alpha
        (np.array([[0, 1000, 4000]], np.uint16), [[[0] * 3, [64] * 3, [255] * 3]]),
        (np.array([[-1.0, 0.0, 1.0]]), [[[0] * 3, [128] * 3, [255] * 3]]),
        (np.array([[5.0, 5.0]]), [[[0] * 3, [0] * 3]]),  # constant
    ],
    ids=["gray", "rgba", "gray-alpha", "16-bit", "float", "constant"],
)
def test_conversion_rule(array, expected):
    out = to_uint8_rgb(array)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.array(expected, np.uint8))


def test_16_bit_png_round_trip(tmp_path):
    path = tmp_path / "ct.png"
    Image.fromarray(np.array([[0, 30000], [60000, 15000]], np.uint16)).save(path)
    img = read_image(str(path))
    assert img.shape == (2, 2, 3) and img.max() == 255 and img.min() == 0


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(DataError, match="nope.png: no such file"):
        read_image(str(tmp_path / "nope.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png: unreadable"):
        read_image(str(bad))


def test_mask_size_mismatch_names_both_files(tmp_path):
    path = tmp_path / "m.png"
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(path)
    with pytest.raises(DataError, match=r"m.png: mask is 4x5 but its image img.png is 6x5"):
        read_mask(str(path), (6, 5, 3), "img.png")
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.array([[[0, 0, 0], [0, 9, 0]]], np.uint8)).save(rgb)
    np.testing.assert_array_equal(read_mask(str(rgb)), [[False, True]])
