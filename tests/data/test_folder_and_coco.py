import json
import os

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from eigjax.data import DataError, coco, folder
from tests.helpers import DEMO_DIR, demo_image


def test_folder_pairs_by_stem(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    img = demo_image("s0619_32.png")
    for name in ("b", "a"):
        Image.fromarray(img).save(tmp_path / "images" / f"{name}.png")
        m = np.zeros(img.shape[:2], np.uint8)
        m[10:20, 10:30] = 255
        Image.fromarray(m).save(tmp_path / "masks" / f"{name}.png")
    got = [r.read() for r in folder.index(str(tmp_path))]
    assert [s.id for s in got] == ["a", "b"] and got[0].mask.sum() == 200
    Image.fromarray(img).save(tmp_path / "images" / "c.png")
    with pytest.raises(DataError, match="c.png: no matching mask"):
        folder.pairs(str(tmp_path))


@pytest.fixture
def coco_files(tmp_path):
    """A COCO annotation file over two real CT slices: polygon, RLE and crowd instances."""
    names = ["amos_0004_75.png", "s0114_111.png"]
    images = []
    for i, name in enumerate(names):
        img = demo_image(name)
        images.append(
            {"id": i + 1, "file_name": name, "height": img.shape[0], "width": img.shape[1]}
        )
    h, w = images[1]["height"], images[1]["width"]
    rle_mask = np.zeros((h, w), np.uint8, order="F")
    rle_mask[50:90, 60:120] = 1
    rle = mask_utils.encode(rle_mask)
    rle["counts"] = rle["counts"].decode()
    anns = [
        {
            "id": 10,
            "image_id": 1,
            "category_id": 1,
            "iscrowd": 0,
            "area": 2500.0,
            "segmentation": [[100, 100, 150, 100, 150, 150, 100, 150]],
            "bbox": [100, 100, 50, 50],
        },
        {
            "id": 11,
            "image_id": 2,
            "category_id": 1,
            "iscrowd": 0,
            "area": 2400.0,
            "segmentation": rle,
            "bbox": [60, 50, 60, 40],
        },
        {
            "id": 12,
            "image_id": 2,
            "category_id": 1,
            "iscrowd": 1,
            "area": 2400.0,
            "segmentation": rle,
            "bbox": [60, 50, 60, 40],
        },
        {
            "id": 13,
            "image_id": 1,
            "category_id": 2,
            "iscrowd": 0,
            "area": 4.0,
            "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]],
            "bbox": [0, 0, 2, 2],
        },
    ]
    cats = [{"id": 1, "name": "organ"}, {"id": 2, "name": "speck"}]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return str(path), os.path.join(DEMO_DIR, "data_demo", "images")


def test_coco_polygon_and_rle_skipping_crowd(coco_files):
    ann, images = coco_files
    got = [r.read() for r in coco.index(ann, images, ["organ"])]
    assert [s.id for s in got] == ["coco-10", "coco-11"]
    assert got[0].mask[125, 125] and not got[0].mask[90, 90]
    assert got[1].mask.sum() == 40 * 60 and got[1].meta["category"] == "organ"
    assert [s.id for s in coco.index(ann, images, ["organ"], include_crowd=True)][-1] == "coco-12"
    assert [s.id for s in coco.index(ann, images, ["organ", "speck"], min_area=10)] == [
        "coco-10",
        "coco-11",
    ]


def test_coco_sampling_is_deterministic(coco_files):
    ann, images = coco_files
    one = [s.id for s in coco.index(ann, images, ["organ", "speck"], num_instances=2, seed=3)]
    assert one == [
        s.id for s in coco.index(ann, images, ["organ", "speck"], num_instances=2, seed=3)
    ]
    assert len(one) == 2 and one == sorted(one, key=lambda i: int(i.split("-")[1]))


def test_coco_errors(coco_files, tmp_path):
    ann, images = coco_files
    with pytest.raises(
        DataError, match=r"unknown categories \['person'\]; valid: \['organ', 'speck'\]"
    ):
        [r.read() for r in coco.index(ann, images, ["person"])]
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    with pytest.raises(DataError, match="bad.json: malformed JSON"):
        [r.read() for r in coco.index(str(bad), images, ["organ"])]
    with pytest.raises(DataError, match="no such file"):
        [r.read() for r in coco.index(ann, str(tmp_path), ["organ"])]


def _write_coco(tmp_path, coco_files, change) -> str:
    """A copy of the fixture's annotation file with `change(data)` applied."""
    data = json.loads(open(coco_files[0]).read())
    change(data)
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["annotations"][0].update(image_id=99), "annotation 10: image_id 99 is not"),
        (lambda d: d["images"][0].pop("height"), "annotation 10: its image 1 has no height"),
        (lambda d: d["images"][0].update(file_name="../../x.png"), "'../../x.png' lies outside"),
    ],
    ids=["missing image", "no height", "outside"],
)
def test_a_coco_reference_that_cannot_be_followed_names_the_file_and_entry(
    coco_files, tmp_path, change, message
):
    path = _write_coco(tmp_path, coco_files, change)
    with pytest.raises(DataError, match=f"changed.json: .*{message}"):
        [r.read() for r in coco.index(path, coco_files[1], ["organ"])]


@pytest.mark.parametrize(
    "segmentation, why",
    [([[100, 100, 150, 100]], "a polygon of 2 points"), ([], "no segmentation")],
)
def test_a_coco_annotation_without_a_usable_mask_is_skipped_and_counted(
    coco_files, tmp_path, segmentation, why
):
    path = _write_coco(
        tmp_path, coco_files, lambda d: d["annotations"][0].update(segmentation=segmentation)
    )
    with pytest.warns(UserWarning, match=f"1 annotations skipped.*id 10, {why}"):
        refs = coco.index(path, coco_files[1], ["organ"])
    assert [r.id for r in refs] == ["coco-11"]
