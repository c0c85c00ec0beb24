"""The SA-Med2D loader on the real demo layout, in both index forms, and its errors."""

import json
import os
import shutil

import numpy as np
import pytest

from eigjax.data import DataError, sa_med2d
from tests.helpers import DEMO_DIR


@pytest.fixture
def root():
    path = os.path.join(DEMO_DIR, "data_demo")
    if not os.path.isdir(path):
        pytest.skip(f"SA-Med2D demo data not found at {DEMO_DIR}")
    return path


def test_image2label_index_of_the_demo(root):
    entries = sa_med2d.entries(root)
    assert len(entries) == 19  # image2label_train.json lists 19 masks of 2 images
    liver = [e for e in entries if e.label == "liver"]
    assert len(liver) == 1 and liver[0].dataset == "amos"
    assert {e.label for e in entries} >= {"spleen", "aorta", "heart_ventricle_left", "rib_left_9"}


def test_label2image_index_and_filters(root):
    index = os.path.join(root, "label2image_test.json")
    entries = sa_med2d.entries(root, index=index, labels=["liver", "aorta"])
    assert {e.label for e in entries} == {"liver", "aorta"}
    samples = [
        r.read() for r in sa_med2d.index(root, index=index, datasets=["amos"], labels=["liver"])
    ]
    assert samples and all(s.image.shape[:2] == s.mask.shape and s.mask.any() for s in samples)
    assert samples[0].image.dtype == np.uint8 and samples[0].image.shape[2] == 3


def test_unknown_names_list_the_valid_ones(root):
    with pytest.raises(
        DataError, match=r"unknown sub-dataset \['FLARE'\]; valid: \['amos', 's0114'\]"
    ):
        sa_med2d.entries(root, datasets=["FLARE"])
    with pytest.raises(DataError, match="unknown label.*valid:.*liver"):
        sa_med2d.entries(root, labels=["brain"])


def test_sa_med2d_20m_names():
    assert sa_med2d.dataset_of("images/ct_00--FLARE--case_01--x_0042.png") == "FLARE"
    assert sa_med2d.label_of("m/a_b_liver_000.png", "i/a_b.png") == "liver"
    assert (
        sa_med2d.label_of("m/x--0003_000.png", "i/x.png", {"x--0003_000.png": "aorta"}) == "aorta"
    )


def test_malformed_and_missing_index(root, tmp_path):
    (tmp_path / "image2label_train.json").write_text("{not json")
    with pytest.raises(DataError, match="image2label_train.json: malformed JSON"):
        sa_med2d.entries(str(tmp_path))
    with pytest.raises(DataError, match="no image2label"):
        sa_med2d.entries(str(tmp_path / "empty"))


def test_mask_of_another_size_names_both(root, tmp_path):
    copy = tmp_path / "data_demo"
    shutil.copytree(root, copy)
    from PIL import Image

    mask = copy / "masks" / "amos_0006_90_liver_000.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask)
    with pytest.raises(
        DataError,
        match=r"amos_0006_90_liver_000.png: mask is 10x10 but its image "
        r".*amos_0006_90.png is 512x512",
    ):
        [r.read() for r in sa_med2d.index(str(copy), labels=["liver"])]
    index = json.loads((copy / "image2label_train.json").read_text())
    assert index  # the copy is a real layout


@pytest.mark.parametrize("escape", ["../private/secret.png", "link"])
def test_an_entry_outside_the_dataset_is_refused_naming_it(root, tmp_path, escape):
    copy = tmp_path / "data" / "data_demo"
    shutil.copytree(root, copy)
    private = tmp_path / "data" / "private"
    private.mkdir()
    shutil.copy(copy / "images" / "amos_0006_90.png", private / "secret.png")
    if escape == "link":  # A link inside the folder that points out of it.
        os.symlink(private / "secret.png", copy / "images" / "link.png")
        escape = "images/link.png"
    index = {f"{escape}": ["masks/amos_0006_90_liver_000.png"]}
    for name in os.listdir(copy):
        if name.endswith(".json"):
            os.remove(copy / name)
    (copy / "image2label_x.json").write_text(json.dumps(index))
    with pytest.raises(DataError, match=r"image2label_x.json: entry .* lies outside"):
        sa_med2d.entries(str(copy))


def test_an_entry_that_is_not_a_path_is_one_line(tmp_path):
    (tmp_path / "image2label.json").write_text(json.dumps({"images/a.png": [7]}))
    with pytest.raises(DataError, match=r"image2label.json: entry \('images/a.png', 7\)"):
        sa_med2d.entries(str(tmp_path))
