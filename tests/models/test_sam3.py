"""SAM 3 (interactive image mode) against the official `sam3` package: seeded random weights
with every parameter perturbed, saved as `sam3.pt` holds them, converted by the CLI, and
run through `Sam3Processor.set_image` and `predict_inst`.

`sam3_reduced` (2 blocks of width 128, the same code) carries the prompt cases; the full
32-block trunk runs once, under the `heavy` marker (CI runs it).
"""

import dataclasses
import json
import subprocess
import sys

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from skimage.measure import label

from eigjax import models
from eigjax.models import tokens, transforms
from eigjax.models.sam3 import configs as sam3_configs
from eigjax.models.sam3.preprocess import resized_uint8
from references import sam3 as ref
from tests.helpers import assert_parity, demo_image, run_converter
from weights_convert import sam3 as sam3_keys

POINTS = np.array([[330.0, 420.0], [700.0, 150.0], [500.0, 800.0]])
LABELS = np.array([1, 0, 1])
BOX = np.array([120.0, 200.0, 860.0, 900.0])


def _image() -> np.ndarray:
    """A real CT slice at SAM 3's input size (its resize is then the identity on both
    sides, so the parity below is of the model, not of a uint8 resize; that is tested
    apart)."""
    ct = demo_image("amos_0507_31.png")
    return np.asarray(
        torch.nn.functional.interpolate(
            torch.as_tensor(np.array(ct)).permute(2, 0, 1)[None].float(), size=(1008, 1008)
        )[0]
        .permute(1, 2, 0)
        .round()
        .to(torch.uint8)
    )


def _convert(tmp_path, net, model: str, wrapped: bool):
    pt = tmp_path / "sam3.pt"
    state = ref.checkpoint_dict(net)
    torch.save({"model": state} if wrapped else state, pt)
    out = tmp_path / "converted"
    proc = run_converter(f"--model={model}", f"--checkpoint={pt}", f"--output={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "model.json").read_text())
    assert meta["skipped"] == sorted(k for k in state if sam3_keys.not_interactive(k))
    return models.load(model, str(out)), state


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    """(official model, its processor state on the image, converted eigjax model, its
    embedding), the checkpoint flat as the released `sam3.pt`."""
    net = ref.build(seed=5, trunk=ref.REDUCED, text_layers=1)
    image = _image()
    model, _ = _convert(tmp_path_factory.mktemp("sam3"), net, "sam3_reduced", wrapped=False)
    return net, ref.processor_state(net, image), model, model.embed(image)


def _cases(net, state):
    """(name, points, labels, box, mask input) of each prompt checked."""
    _, _, low = ref.predict(net, state, POINTS[:1], LABELS[:1])
    return [
        ("one point", POINTS[:1], LABELS[:1], None, None),
        ("points", POINTS, LABELS, None, None),
        ("points + box", POINTS, LABELS, BOX, None),
        ("box", None, None, BOX, None),
        ("points + mask", POINTS, LABELS, None, low[:1]),
    ]


def _ours(model, emb, points, labels, box, mask):
    return model.predict(
        emb,
        np.zeros((0, 2)) if points is None else points,
        np.zeros(0, int) if labels is None else labels,
        box,
        None if mask is None else mask[0],
    )


@pytest.mark.slow
def test_reduced_sam3_features_equal_the_official_predictors(reduced):
    net, state, _, emb = reduced
    embed, s0, s1 = ref.features(net, state)
    assert_parity(emb.features, embed, "sam3_reduced embedding")
    assert_parity(emb.high_res[0], s0, "sam3_reduced conv_s0 features")
    assert_parity(emb.high_res[1], s1, "sam3_reduced conv_s1 features")


@pytest.mark.slow
@pytest.mark.parametrize("case", range(5))
def test_reduced_sam3_prompts_equal_predict_inst(reduced, case):
    """Every token's low-res logits, IoU and object score (the decoder as `_predict` calls
    it); multimask on (tokens 1–3 at the original size, holes filled) and off (the
    stability rule's pick)."""
    net, state, model, emb = reduced
    name, points, labels, box, mask = _cases(net, state)[case]
    out = _ours(model, emb, points, labels, box, mask)
    low, iou, score = ref.decoder_outputs(net, state, points, labels, box, mask)
    assert_parity(out.low_res_logits, np.clip(low, -32, 32), f"{name} low-res logits")
    assert_parity(out.iou, iou, f"{name} IoU")
    assert_parity(out.object_score, score, f"{name} object score")
    full, iou3, low3 = ref.predict(net, state, points, labels, box, mask)
    assert_parity(out.logits[1:], full, f"{name} logits, multimask")
    assert_parity(out.iou[1:], iou3, f"{name} IoU, multimask")
    assert_parity(out.low_res_logits[1:], low3, f"{name} low-res logits, multimask")
    full1, iou1, _ = ref.predict(net, state, points, labels, box, mask, multimask=False)
    prompt = models.Prompt.create(
        np.zeros((0, 2)) if points is None else points,
        np.zeros(0, int) if labels is None else labels,
        box,
    )
    # The stability rule decides the single output; eigjax's rule is checked on a prompt
    # that is not a single click (a single click always takes the best multimask token).
    single = tokens.proposed_token(out.iou, "best_iou_first_stable", prompt, out.low_res_logits)
    stable = float(tokens.stability(out.low_res_logits[0])) >= tokens.STABILITY_THRESH
    chosen = 0 if stable else 1 + int(np.argmax(out.iou[1:]))
    if points is None or len(points) > 1 or box is not None:
        assert int(single) == chosen
    assert_parity(out.logits[chosen], full1[0], f"{name} logits, single output")
    assert_parity(out.iou[chosen], iou1[0], f"{name} IoU, single output")


@pytest.mark.slow
def test_hole_filling_fills_background_only_and_changes_these_logits(reduced):
    """The random model's logits have small background holes: filling them changes the
    logits at the original size, and only there (the low-res logits are returned as is)."""
    _, _, model, emb = reduced
    out = model.predict(emb, POINTS, LABELS)
    low = jnp.asarray(out.low_res_logits)
    filled = transforms.fill_holes(low, 256)
    assert not np.array_equal(np.asarray(filled), np.asarray(low))
    assert np.all(np.asarray(filled)[np.asarray(low) > 0] == np.asarray(low)[np.asarray(low) > 0])


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.bool_, (12, 20)))  # One shape: one compile.
def test_component_areas_equal_scikit_image_labels(mask):
    labels, _ = label(mask, return_num=True, connectivity=2)
    counts = np.bincount(labels.ravel())
    expected = np.where(labels > 0, counts[labels], 0)
    assert np.array_equal(np.asarray(transforms.component_areas(jnp.asarray(mask))), expected)


@pytest.mark.slow
def test_a_wrapped_checkpoint_converts_alike_and_a_sam2_model_is_refused(tmp_path, reduced):
    net, _, model, _ = reduced
    wrapped, _ = _convert(tmp_path, net, "sam3_reduced", wrapped=True)
    assert all(
        jax.tree_util.tree_leaves(
            jax.tree_util.tree_map(np.array_equal, wrapped.params, model.params)
        )
    )
    proc = run_converter(
        "--model=sam2.1_hiera_tiny",
        f"--checkpoint={tmp_path / 'sam3.pt'}",
        f"--output={tmp_path / 'other'}",
    )
    assert proc.returncode != 0
    assert "a SAM 3 checkpoint" in proc.stderr and "sam3" in proc.stderr


def test_uint8_resize_follows_the_float_path_and_is_within_a_grey_level_of_the_cpus():
    """eigjax resizes as torchvision does on floats (CUDA's path): equal to it exactly; the
    AVX2 CPU path (uint8 fixed point) differs by at most one grey level on some pixels."""
    image = demo_image("amos_0507_31.png")[:290, :320]
    ours = resized_uint8(image, 1008).astype(np.int32)
    x = torch.as_tensor(image).permute(2, 0, 1)[None]
    floats = torch.nn.functional.interpolate(
        x.float(), size=(1008, 1008), mode="bilinear", align_corners=False, antialias=True
    )
    float_path = floats.round().clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.int32)
    assert np.abs(ours - float_path).max() <= 1  # float32 sums, two orders of summation.
    assert np.mean(ours != float_path) < 1e-3
    cpu = ref.preprocessed(image) * 0.5 + 0.5  # The processor's own output, on this CPU.
    cpu_grey = np.round(cpu * 255).astype(np.int32)
    differs = ours != cpu_grey
    print(f"uint8 CPU path: {differs.mean():.1%} of values one grey level off")
    assert np.abs(ours - cpu_grey).max() <= 1


@pytest.mark.heavy
def test_full_sam3_converted_by_the_cli_equals_the_official_predictor(tmp_path):
    """The 32-block, 1024-wide trunk (446 M parameters) once: features and one prompt. The
    reference's outputs are taken and the reference freed before eigjax runs (its text
    encoder, off the interactive path, cut to one block), to bound the test's memory."""
    net = ref.build(seed=6, text_layers=1)
    image = _image()
    state = ref.processor_state(net, image)
    expected = {
        "features": ref.features(net, state),
        "decoder": ref.decoder_outputs(net, state, POINTS, LABELS, BOX),
        "logits": ref.predict(net, state, POINTS, LABELS, BOX)[0],
    }
    pt = tmp_path / "sam3.pt"
    torch.save(ref.checkpoint_dict(net), pt)
    del net, state
    out = tmp_path / "converted"
    proc = run_converter("--model=sam3", f"--checkpoint={pt}", f"--output={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = models.load("sam3", str(out))
    assert model.config.encoder == sam3_configs.SAM3_VIT
    emb = model.embed(image)
    embed, s0, s1 = expected["features"]
    assert_parity(emb.features, embed, "sam3 embedding")
    assert_parity(emb.high_res[0], s0, "sam3 conv_s0 features")
    assert_parity(emb.high_res[1], s1, "sam3 conv_s1 features")
    out = model.predict(emb, POINTS, LABELS, BOX)
    low, iou, score = expected["decoder"]
    assert_parity(out.low_res_logits, np.clip(low, -32, 32), "sam3 low-res logits")
    assert_parity(out.iou, iou, "sam3 IoU")
    assert_parity(out.object_score, score, "sam3 object score")
    assert_parity(out.logits[1:], expected["logits"], "sam3 logits")


@pytest.mark.slow
def test_the_references_stand_ins_leave_torch_whole():
    """Its stand-ins for torchvision, timm's parents and sam3's triton module do not break
    torch: `torch._dynamo` (which an optimiser imports) still loads after them (a global
    `triton` stand-in broke it, and the SAM-Med2D tests after it in one worker)."""
    code = "from references import sam3; sam3.install_torchvision(); import torch._dynamo"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_trunk_whose_last_block_is_windowed_is_refused():
    with pytest.raises(ValueError, match="the last must be block 3"):
        dataclasses.replace(sam3_configs.SAM3_VIT, depth=4, global_att_blocks=(1,))
