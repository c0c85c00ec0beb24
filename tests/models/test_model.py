"""The whole embed + predict path against the official pre/post-processing, on real images."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eigjax import models
from references import official
from tests.helpers import assert_parity, demo_image

# (image, clicks (x, y, label), box): real CT slices of several sizes, non-square included.
CASES = [
    ("amos_0507_31.png", [(150, 140, 1)], None),
    ("s0114_111.png", [(90, 100, 1), (40, 30, 0)], [20, 25, 170, 160]),
    ("s0619_32.png", [(110, 80, 1), (60, 50, 0), (20, 120, 1), (200, 20, 0), (75, 75, 1)], None),
    ("amos_0004_75.png", [], [100, 150, 400, 420]),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,clicks,box", CASES)
def test_predict_matches_official_pipeline(tiny_official, tiny_model, name, clicks, box):
    image = demo_image(name)
    points = np.array([c[:2] for c in clicks], np.float32).reshape(-1, 2)
    labels = np.array([c[2] for c in clicks], np.int32)
    ref_low, ref_full, ref_iou, ref_emb = official.predict_official(
        tiny_official, image, points, labels, box
    )
    emb = tiny_model.embed(image)
    out = tiny_model.predict(emb, points, labels, None if box is None else np.float32(box))
    assert_parity(emb.features, ref_emb, f"{name} embedding")
    assert_parity(out.low_res_logits, ref_low, f"{name} low-res logits")
    assert_parity(out.logits, ref_full, f"{name} logits at {image.shape[:2]}")
    assert_parity(out.iou, ref_iou, f"{name} iou")


@pytest.mark.slow
def test_sam_vit_b_converted_by_cli_matches_official(vit_b_official, vit_b_converted):
    """The issue's acceptance check: a random sam_vit_b through the CLI, on a real image."""
    model = models.load("sam_vit_b", str(vit_b_converted))
    image = demo_image("amos_0507_31.png")  # 320 x 290: exercises resize and padding.
    points, labels = np.array([[150.0, 140.0], [60.0, 200.0]], np.float32), np.array([1, 0])
    box = np.array([80.0, 70.0, 250.0, 230.0], np.float32)
    ref_low, ref_full, ref_iou, ref_embedding = official.predict_official(
        vit_b_official, image, points, labels, box
    )
    embedding = model.embed(image)
    assert_parity(embedding.features, ref_embedding, "sam_vit_b embedding")
    out = model.predict(embedding, points, labels, box)
    assert_parity(out.low_res_logits, ref_low, "sam_vit_b low-res logits")
    assert_parity(out.logits, ref_full, "sam_vit_b logits")
    assert_parity(out.iou, ref_iou, "sam_vit_b iou")


def test_grayscale_equals_repeated_rgb(tiny_model):
    gray = demo_image("s0619_32.png")[:, :, 0]
    a = tiny_model.embed(gray).features
    b = tiny_model.embed(np.repeat(gray[:, :, None], 3, axis=2)).features
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_predict_vmaps_over_prompts_with_unbatched_embedding(tiny_model):
    emb = tiny_model.embed(demo_image("s0114_111.png"))
    points = jnp.array([[[40.0, 50.0]], [[100.0, 90.0]], [[150.0, 20.0]]])
    labels = jnp.ones((3, 1), jnp.int32)
    out = jax.vmap(tiny_model.predict, in_axes=(None, 0, 0))(emb, points, labels)
    assert out.logits.shape == (3, 4, *emb.original_size)
    for i in range(3):
        single = tiny_model.predict(emb, points[i], labels[i])
        np.testing.assert_allclose(out.logits[i], single.logits, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_load_rejects_params_of_another_model(vit_b_converted):
    with pytest.raises(models.CheckpointError, match="holds params for 'sam_vit_b'"):
        models.load("sam_vit_l", str(vit_b_converted))


def test_load_rejects_a_directory_that_is_not_converted(tmp_path):
    with pytest.raises(models.CheckpointError, match="no model.json"):
        models.load("sam_vit_b", str(tmp_path))


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="sam_vit_b"):
        models.get_config("sam_vit_x")


def test_predict_refuses_a_mask_input_of_another_shape_and_takes_outside_prompts(tiny_model):
    image = np.full((40, 50, 3), 120, np.uint8)
    emb = tiny_model.embed(image)
    r = tiny_model.config.low_res_size
    with pytest.raises(ValueError, match=rf"mask_input: expected .*\({r}, {r}\).*got \(32, 32\)"):
        tiny_model.predict(
            emb, np.array([[5.0, 5.0]]), np.array([1]), mask_input=np.zeros((32, 32))
        )
    out = tiny_model.predict(  # Outside the image: encoded as given (documented).
        emb, np.array([[-3.0, 70.0]]), np.array([1]), box=np.array([-2.0, -2.0, 60.0, 45.0])
    )
    assert np.isfinite(np.asarray(out.logits)).all()
