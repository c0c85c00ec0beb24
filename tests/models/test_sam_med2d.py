"""SAM-Med2D (ViT-b with adapters, 256 px) against its published definition, on seeded weights."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import weights_convert
from eigjax import models
from eigjax.models import families
from references import official
from tests.helpers import assert_parity, demo_image, run_converter

CONFIG = families.get_config("sam_med2d")


@pytest.fixture(scope="module")
def reference():
    return official.build_official(CONFIG, seed=3)


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory):
    """Saved as the real one is: {'model': state_dict, 'optimizer': a pickled optimizer}."""
    path = tmp_path_factory.mktemp("sam_med2d") / "sam-med2d_b_random.pth"
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(3))], lr=1e-4)
    torch.save({"model": reference.state_dict(), "optimizer": optimizer, "epoch": 7}, path)
    return path


@pytest.mark.slow
def test_pickled_optimizer_is_refused_without_allow_pickle(checkpoint, tmp_path):
    out = tmp_path / "o"
    proc = run_converter("--model=sam_med2d", f"--checkpoint={checkpoint}", f"--output={out}")
    assert proc.returncode == 1 and "--allow_pickle" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


@pytest.fixture(scope="module")
def model(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("sam_med2d_params") / "params"
    args = ["--model=sam_med2d", f"--checkpoint={checkpoint}", f"--output={out}"]
    proc = run_converter(*args, "--allow_pickle")
    assert proc.returncode == 0, proc.stderr
    return models.load("sam_med2d", str(out))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,clicks,box",
    [
        ("s0114_111.png", [(90, 100, 1), (40, 30, 0)], None),
        ("amos_0004_75.png", [(250, 260, 1)], [100, 150, 400, 420]),
    ],
)
def test_predict_matches_sammed_predictor(reference, model, name, clicks, box):
    image = demo_image(name)
    points = np.array([c[:2] for c in clicks], np.float32)
    labels = np.array([c[2] for c in clicks], np.int32)
    ref_low, ref_full, ref_iou = official.predict_sammed(reference, image, points, labels, box)
    out = model.predict(
        model.embed(image), points, labels, None if box is None else np.float32(box)
    )
    assert_parity(out.low_res_logits, ref_low, f"sam_med2d {name} low-res logits")
    assert_parity(out.logits, ref_full, f"sam_med2d {name} logits")
    assert_parity(out.iou, ref_iou, f"sam_med2d {name} iou")


def test_tables_of_another_grid_are_resized_like_load_from(reference):
    """SAM's 1024 px tables (64x64 pos_embed, 127-row global rel_pos) → the 256 px model."""
    sd = official.state_dict_numpy(reference)
    rng = np.random.RandomState(0)
    sd["image_encoder.pos_embed"] = rng.randn(1, 64, 64, 768).astype(np.float32)
    sd["image_encoder.blocks.2.attn.rel_pos_h"] = rng.randn(127, 64).astype(np.float32)
    params = weights_convert.convert_state_dict("sam_med2d", sd)
    enc = params["image_encoder"]
    pos = torch.as_tensor(sd["image_encoder.pos_embed"]).permute(0, 3, 1, 2)
    ref_pos = F.interpolate(pos, (16, 16), mode="bilinear", align_corners=False)
    assert_parity(enc["pos_embed"], ref_pos.permute(0, 2, 3, 1).numpy(), "pos_embed", 1e-5)
    rel = torch.as_tensor(sd["image_encoder.blocks.2.attn.rel_pos_h"])[None, None]
    ref_rel = F.interpolate(rel, (31, 64), mode="bilinear", align_corners=False)[0, 0].numpy()
    assert_parity(enc["blocks_2"]["attn"]["rel_pos_h"], ref_rel, "global rel_pos", 1e-5)
    np.testing.assert_array_equal(  # Window-attention tables keep their size and values.
        enc["blocks_0"]["attn"]["rel_pos_h"], sd["image_encoder.blocks.0.attn.rel_pos_h"]
    )
