import numpy as np
import pytest
from PIL import Image, ImageOps

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


def _shape_mask():
    m = np.zeros((20, 25), bool)
    m[5:12, 4:15] = True  # 77 of 500 pixels: 15 % foreground.
    return m


def _mask_file(tmp_path, mode: str):
    """A foreground rectangle written the way a user's tool writes masks of `mode`."""
    fg = _shape_mask()
    u8 = fg.astype(np.uint8) * 255
    if mode == "1":
        im = Image.fromarray(fg)
    elif mode == "L":
        im = Image.fromarray(u8)
    elif mode == "LA-opaque":  # White shape on an opaque black background.
        im = Image.fromarray(np.stack([u8, np.full_like(u8, 255)], -1), "LA")
    elif mode == "LA-alpha":  # The shape drawn in alpha alone, gray constant.
        im = Image.fromarray(np.stack([np.full_like(u8, 200), u8], -1), "LA")
    elif mode == "RGB":
        im = Image.fromarray(np.stack([u8 * 0, u8 // 2, u8], -1))
    elif mode == "RGBA-opaque":  # The reported case: opaque black background.
        im = Image.fromarray(np.stack([u8, u8, u8, np.full_like(u8, 255)], -1), "RGBA")
    elif mode == "RGBA-alpha":  # A white layer whose alpha is the shape.
        im = Image.fromarray(np.stack([np.full_like(u8, 255)] * 3 + [u8], -1), "RGBA")
    elif mode == "P":  # Palette black (0), red (1).
        im = Image.fromarray(fg.astype(np.uint8), "P")
        im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    elif mode == "P-reversed":  # Index 0 is white: the colours, not the indexes, decide.
        im = Image.fromarray((~fg).astype(np.uint8), "P")
        im.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    elif mode == "I;16":
        im = Image.fromarray(fg.astype(np.uint16) * 40000)
    path = tmp_path / f"{mode}.png"
    im.save(path)
    return str(path)


@pytest.mark.parametrize(
    "mode",
    [
        "1",
        "L",
        "LA-opaque",
        "LA-alpha",
        "RGB",
        "RGBA-opaque",
        "RGBA-alpha",
        "P",
        "P-reversed",
        "I;16",
    ],
)
def test_masks_are_read_as_users_mean_them(tmp_path, mode):
    np.testing.assert_array_equal(read_mask(_mask_file(tmp_path, mode)), _shape_mask())


def _picture(h=12, w=20) -> np.ndarray:
    """uint8 [h, w, 3]: a gradient with a corner marked, so a turn or a channel swap shows."""
    y, x = np.mgrid[:h, :w]
    rgb = np.stack([x * 12, y * 20, (x + y) * 5], -1).astype(np.uint8)
    rgb[:3, :3] = (255, 0, 0)
    return rgb


def test_a_palette_image_is_read_as_its_colours(tmp_path):
    palette = Image.fromarray(_picture()).quantize(8)  # Mode P: indices into a palette.
    palette.save(tmp_path / "p.png")
    expected = np.asarray(palette.convert("RGB"))
    np.testing.assert_array_equal(read_image(str(tmp_path / "p.png")), expected)


def test_a_cmyk_jpeg_is_read_as_rgb_not_its_ink_channels(tmp_path):
    Image.fromarray(_picture()).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    with Image.open(tmp_path / "c.jpg") as im:
        assert im.mode == "CMYK"
        expected = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(read_image(str(tmp_path / "c.jpg")), expected)


def test_the_exif_orientation_is_applied_to_pixels_and_size(tmp_path):
    from eigjax.data.images import read_size

    exif = Image.Exif()
    exif[0x0112] = 6  # Turned 90 degrees: the camera's picture is the transposed one.
    Image.fromarray(_picture()).save(tmp_path / "o.jpg", exif=exif, quality=95)
    image = read_image(str(tmp_path / "o.jpg"))
    with Image.open(tmp_path / "o.jpg") as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert image.shape == (20, 12, 3)
    np.testing.assert_array_equal(image, expected)
    assert read_size(str(tmp_path / "o.jpg")) == (12, 20)  # (width, height) as decoded


def test_a_float_image_with_a_nan_pixel_is_refused_naming_the_file(tmp_path):
    a = np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6)
    a[1, 2] = np.nan
    Image.fromarray(a).save(tmp_path / "f.tif")
    with pytest.raises(DataError, match=r"f.tif: 1 of 24 pixels are not finite"):
        read_image(str(tmp_path / "f.tif"))
    with pytest.raises(ValueError, match="not finite"):
        to_uint8_rgb(a)
