"""The export formats as pure functions: RLE round trips, indexed PNGs, COCO's fields."""

import io

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pycocotools.mask as mask_utils
import pytest
from hypothesis import given, settings
from PIL import Image
from scipy import ndimage

from experiments import rle
from experiments.web import annotations, export

masks = hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40))


@settings(max_examples=60, deadline=None)
@given(masks)
def test_rle_round_trips_any_mask(mask):
    coded = rle.encode(mask)
    assert coded["size"] == list(mask.shape) and isinstance(coded["counts"], str)
    assert np.array_equal(rle.decode(coded), mask)


@settings(max_examples=30, deadline=None)
@given(st.lists(hnp.arrays(bool, (7, 9)), min_size=1, max_size=5))
def test_an_indexed_png_holds_the_topmost_object_at_each_pixel(objects):
    image = Image.open(io.BytesIO(export.indexed_png(objects, 7, 9)))
    values = np.asarray(image)
    assert image.mode == "P" and values.shape == (7, 9)
    expected = np.zeros((7, 9), np.uint8)
    for i, m in enumerate(objects):
        expected[m] = i + 1
    assert np.array_equal(values, expected)


def test_coco_ids_come_from_the_names_and_the_categories_given():
    square = np.zeros((4, 6), bool)
    square[1:3, 2:5] = True
    obj = {"id": "a", "label": "liver", "mask": rle.encode(square), "model": "m"}
    images = [
        {"name": "x", "file_name": "x.png", "width": 6, "height": 4},
        {"name": "y", "file_name": "scan y.png", "width": 6, "height": 4},
    ]
    objects = {"y": [obj, {**obj, "id": "b", "label": "kidney"}]}
    out = export.coco(images, objects, {"liver": 1, "kidney": 2, "spleen": 3})
    assert out["categories"] == [{"id": 1, "name": "liver"}, {"id": 2, "name": "kidney"},
                                 {"id": 3, "name": "spleen"}]  # fmt: skip
    assert [i["file_name"] for i in out["images"]] == ["x.png", "scan y.png"]
    first = out["annotations"][0]
    assert first["image_id"] == export.image_id("y") == out["images"][1]["id"]
    assert first["area"] == 6 and first["bbox"] == [2.0, 1.0, 3.0, 2.0]
    assert first["category_id"] == 1 and first["eigjax"] == {
        "id": "a",
        "label": "liver",
        "model": "m",
    }
    alone = export.coco(images[1:], objects, {"liver": 1, "kidney": 2})  # Fewer images served:
    assert alone["images"][0]["id"] == out["images"][1]["id"]  # the same id.


def _drawn(polygons, height, width) -> np.ndarray:
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, height, width)))


@settings(max_examples=60, deadline=None)
@given(masks)
def test_polygons_decode_back_to_any_mask_without_a_hole_exactly(mask):
    filled = ndimage.binary_fill_holes(mask)
    drawn = export.polygons(filled)
    if not filled.any():
        assert drawn == []
        return
    assert np.array_equal(_drawn(drawn, *filled.shape).astype(bool), filled)


def test_a_mask_with_a_hole_has_no_polygons_and_exports_as_rle():
    ring = np.zeros((9, 9), bool)
    ring[1:8, 1:8] = True
    ring[4, 4] = False
    assert export.polygons(ring) is None
    obj = {"id": "a", "label": "ring", "mask": rle.encode(ring)}
    square = {"id": "b", "label": "ring", "mask": rle.encode(ndimage.binary_fill_holes(ring))}
    image = {"name": "x.png", "file_name": "x.png", "width": 9, "height": 9}
    out = export.coco([image], {"x.png": [obj, square]}, {"ring": 1}, "polygon")
    kept, drawn = (a["segmentation"] for a in out["annotations"])
    assert kept == obj["mask"] and isinstance(drawn, list) and out["annotations"][1]["area"] == 49


@pytest.mark.parametrize("name", ["a/b.png", "../x", "x\\y", "con:z"])
def test_file_stems_are_plain_names(name):
    assert set(export.file_stem(name)) <= set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
    )


@pytest.mark.parametrize("label", ["", "   ", "a\nb", "x" * 65, 3, None, ["a"]])
def test_a_label_is_short_printable_text(label):
    with pytest.raises(ValueError, match="label"):
        annotations.check_label(label)
    assert annotations.check_label("  left kidney ") == "left kidney"
