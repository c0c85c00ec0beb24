"""SAM 2.1 (Hiera), MedSAM2 (512 px) and MobileSAM against their official code: seeded
random weights with every parameter perturbed, through the converter, on a real
non-square CT slice; the SAM 2 predictor's own preprocessing, prompts and post-processing."""

import json

import numpy as np
import pytest
import torch

import weights_convert
from eigjax import models
from eigjax.models import Model, families, resample
from eigjax.models.network import abstract_params
from eigjax.models.sam2.image_encoder import bicubic_matrix
from references import official
from references import sam2 as ref
from tests.helpers import assert_parity, demo_image, run_converter
from weights_convert import keymap, sam2

POINTS = np.array([[150.0, 140.0], [60.0, 200.0]])
LABELS = np.array([1, 0])
BOX = np.array([40.0, 50.0, 250.0, 230.0])


@pytest.fixture(scope="module")
def image():
    return demo_image("amos_0507_31.png")[:290, :320]  # Non-square, as a user's.


def _prompts(p):
    """(name, points, labels, box, mask input) of each prompt checked."""
    low, _, _ = ref.predict(p, POINTS[:1], LABELS[:1])
    return [
        ("points", POINTS, LABELS, None, None),
        ("points + box", POINTS, LABELS, BOX, None),
        ("box", None, None, BOX, None),
        ("points + mask", POINTS, LABELS, None, low[1:2]),
    ]


def _check(model, net, image, what):
    p = ref.predictor(net, image)
    emb = model.embed(image)
    embed, s0, s1 = ref.features(p)
    assert_parity(emb.features, embed, f"{what} embedding")
    assert_parity(emb.high_res[0], s0, f"{what} conv_s0 features")
    assert_parity(emb.high_res[1], s1, f"{what} conv_s1 features")
    for name, points, labels, box, mask in _prompts(p):
        low, full, iou = ref.predict(p, points, labels, box, mask)
        out = model.predict(
            emb,
            np.zeros((0, 2)) if points is None else points,
            np.zeros(0, int) if labels is None else labels,
            box,
            None if mask is None else mask[0],
        )
        assert_parity(out.low_res_logits, low, f"{what} {name} low-res logits")
        assert_parity(out.logits, full, f"{what} {name} logits")
        assert_parity(out.iou, iou, f"{what} {name} IoU")


@pytest.mark.slow
def test_sam2_tiny_converted_by_the_cli_equals_the_official_predictor(tmp_path, image):
    net = ref.build("sam2.1_hiera_tiny", seed=3)
    pt = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": net.state_dict()}, pt)  # As the official checkpoints hold it.
    out = tmp_path / "converted"
    proc = run_converter("--model=sam2.1_hiera_tiny", f"--checkpoint={pt}", f"--output={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "model.json").read_text())
    video = sorted(k for k in net.state_dict() if sam2.video_only(k))
    assert meta["skipped"] == video and f"skipped {len(video)} tensors" in proc.stdout
    assert {k.split(".")[0] for k in video} >= {"memory_attention", "memory_encoder"}
    _check(models.load("sam2.1_hiera_tiny", str(out)), net, image, "sam2.1_hiera_tiny")


@pytest.mark.slow
def test_medsam2_at_512_equals_the_official_code(image):
    net = ref.build("medsam2", seed=4)
    config = families.get_config("medsam2")
    assert (config.embedding_size, config.low_res_size) == (32, 128)  # FPN 128/64/32.
    params = weights_convert.convert_state_dict("medsam2", ref.state_dict_numpy(net))
    _check(Model(config, params), net, image, "medsam2")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sam2.1_hiera_base_plus", "sam2.1_hiera_large"])
def test_the_larger_trunks_equal_the_official_code_at_512(name, image):
    """Two heads, a 14x14 background (base+), windows of 16 and 8 (large): their trunks at
    512 px to keep the test short (the image size only changes the tables' sizes)."""
    import dataclasses

    net = ref.build(name, seed=6, image_size=512)
    config = dataclasses.replace(families.get_config(name), image_size=512)
    params = weights_convert.keymap.apply(
        ref.state_dict_numpy(net), sam2.keymap(config), abstract_params(config), sam2.video_only
    )
    p = ref.predictor(net, image)
    emb = Model(config, params).embed(image)
    assert_parity(emb.features, ref.features(p)[0], f"{name} embedding at 512")
    low, _, iou = ref.predict(p, POINTS, LABELS, BOX)
    out = Model(config, params).predict(emb, POINTS, LABELS, BOX)
    assert_parity(out.low_res_logits, low, f"{name} low-res logits at 512")
    assert_parity(out.iou, iou, f"{name} IoU at 512")


@pytest.mark.slow
def test_mobile_sam_equals_the_official_code(image):
    net = official.mobile_sam(seed=5)
    params = weights_convert.convert_state_dict("mobile_sam", official.state_dict_numpy(net))
    model = Model(families.get_config("mobile_sam"), params)
    low, full, iou, features = official.predict_official(net, image, POINTS, LABELS, BOX)
    emb = model.embed(image)
    out = model.predict(emb, POINTS, LABELS, BOX)
    assert_parity(emb.features, features, "mobile_sam embedding")
    assert_parity(out.low_res_logits, low, "mobile_sam low-res logits")
    assert_parity(out.logits, full, "mobile_sam logits")
    assert_parity(out.iou, iou, "mobile_sam IoU")


def _meta_state_dict(name: str, version: str = "2.1") -> dict:
    """The official model's tensors by shape alone (zero-strided stand-ins: no memory)."""
    return {k: np.broadcast_to(np.float32(0), s) for k, s in ref.shapes(name, version).items()}


@pytest.mark.parametrize(
    "name, version",
    [
        ("sam2.1_hiera_small", "2.1"),
        ("sam2.1_hiera_base_plus", "2.1"),
        ("sam2.1_hiera_large", "2.1"),
        ("sam2.1_hiera_tiny", "2.0"),
        ("sam2.1_hiera_large", "2.0"),
    ],
)
def test_keymap_covers_every_official_size_and_sam_2_0(name, version):
    """Every image-mode tensor maps by shape; SAM 2.0's checkpoints convert strictly with
    the same config (they lack only two video-only tensors)."""
    sd = _meta_state_dict(name, version)
    config = families.get_config(name)
    keymap.apply(sd, sam2.keymap(config), abstract_params(config), ignored=sam2.video_only)
    skipped = weights_convert.skipped(name, sd)
    assert ("no_obj_embed_spatial" in skipped) == (version == "2.1")


def test_a_checkpoint_of_another_family_fails_in_one_message(vit_b_official):
    sam1 = official.state_dict_numpy(vit_b_official)
    with pytest.raises(weights_convert.ConversionError, match=r"a SAM \(ViT\) checkpoint") as err:
        weights_convert.convert_state_dict("sam2.1_hiera_tiny", sam1, what="sam_vit_b.pth")
    assert "\n" not in str(err.value)
    sd = _meta_state_dict("sam2.1_hiera_tiny")
    with pytest.raises(weights_convert.ConversionError, match="a SAM 2 checkpoint") as err:
        weights_convert.convert_state_dict("sam_vit_b", sd, what="sam2.1_hiera_tiny.pt")
    assert "sam2.1_hiera_tiny" in str(err.value) and "\n" not in str(err.value)


def test_a_changed_video_only_key_list_names_the_keys():
    sd = dict(_meta_state_dict("sam2.1_hiera_tiny"))
    sd["memory_bank.slots"] = np.zeros((4, 64), np.float32)  # Not a known video-only tensor.
    del sd["sam_mask_decoder.conv_s0.weight"]
    with pytest.raises(weights_convert.ConversionError) as err:
        weights_convert.convert_state_dict("sam2.1_hiera_tiny", sd)
    assert "unexpected: memory_bank.slots (4, 64)" in str(err.value)
    assert "missing: sam_mask_decoder.conv_s0.weight" in str(err.value)


@pytest.mark.parametrize("h, w", [(290, 320), (1500, 700), (37, 1024), (512, 512)])
def test_sam2_resize_is_torchs_antialiased_bilinear(h, w):
    x = torch.rand(1, 3, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(h))
    ref_resized = torch.nn.functional.interpolate(
        x, size=(1024, 1024), mode="bilinear", align_corners=False, antialias=True
    )[0].numpy()
    rows, cols = (
        resample.antialias_bilinear_matrix(h, 1024),
        resample.antialias_bilinear_matrix(w, 1024),
    )
    ours = np.einsum("ij,cjk,lk->cil", rows, x[0].numpy(), cols, optimize=True)
    np.testing.assert_allclose(ours, ref_resized, atol=1e-12)


@pytest.mark.parametrize("n_in, n_out", [(7, 256), (14, 256), (7, 128)])
def test_the_window_position_background_is_resized_as_torchs_bicubic(n_in, n_out):
    x = torch.randn(
        1, 2, n_in, n_in, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    ref_resized = torch.nn.functional.interpolate(x, size=(n_out, n_out), mode="bicubic")[0].numpy()
    m = bicubic_matrix(n_in, n_out)
    np.testing.assert_allclose(
        np.einsum("ij,cjk,lk->cil", m, x[0].numpy(), m), ref_resized, atol=1e-12
    )
