"""Prompts are validated at the API boundary: each bad argument gets a ValueError naming it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eigjax.models import Prompt

POINTS = np.array([[10.0, 20.0], [30.0, 40.0]], np.float32)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"points": np.array([[np.nan, 1.0]]), "labels": [1]}, "points: holds NaN or infinite"),
        ({"points": np.array([[np.inf, 1.0]]), "labels": [1]}, "points: holds NaN or infinite"),
        (
            {"points": POINTS, "labels": [1, 2]},
            r"labels: expected values in \(-1, 0, 1\), got \[2\]",
        ),
        ({"points": POINTS, "labels": [1, 0.7]}, r"labels: .*got \[0.7\]"),
        ({"points": POINTS, "labels": [1]}, r"labels: expected \[2\] \(one per point\)"),
        (
            {"points": POINTS, "labels": [1, 0], "valid": np.ones(3, bool)},
            r"valid: expected bool \[2\]",
        ),
        ({"points": np.zeros((2, 3)), "labels": [1, 0]}, r"points: expected \[N, 2\]"),
        ({"points": POINTS, "labels": [1, 0], "box": [50, 10, 20, 30]}, "box: expected x0 <= x1"),
        ({"points": POINTS, "labels": [1, 0], "box": [5, 10, 20, np.nan]}, "box: holds NaN"),
        ({"points": POINTS, "labels": [1, 0], "box": [1, 2, 3]}, r"box: expected \[4\]"),
        (
            {"points": POINTS, "labels": [1, 0], "mask": np.zeros((4, 5))},
            "mask_input: expected square",
        ),
    ],
    ids=[
        "nan-point",
        "inf-point",
        "label-2",
        "label-0.7",
        "short-labels",
        "long-valid",
        "point-shape",
        "box-order",
        "nan-box",
        "box-shape",
        "mask-shape",
    ],
)
def test_bad_prompts_are_refused_with_the_argument_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Prompt.create(**kwargs)


def test_model_predict_validates_its_prompt(tiny_model):
    from tests.helpers import demo_image

    emb = tiny_model.embed(demo_image())
    with pytest.raises(ValueError, match="box: expected x0 <= x1"):
        tiny_model.predict(emb, POINTS, np.array([1, 0]), box=np.array([50.0, 10, 20, 30]))
    with pytest.raises(ValueError, match="labels"):
        tiny_model.predict(emb, POINTS, np.array([1, 0, 1]))


def test_good_prompts_and_traced_values_pass():
    p = Prompt.create(np.zeros((0, 2)), np.zeros(0, np.int32), box=[1, 2, 1, 5])
    assert p.points.shape == (0, 2) and p.box.shape == (4,)
    # Under jit values cannot be checked, shapes still are: no error, same prompt.
    traced = jax.jit(lambda pts: Prompt.create(pts, jnp.array([1, 0])).points)(POINTS)
    np.testing.assert_array_equal(traced, POINTS)


def test_add_truncate_and_scale_keep_the_shapes():
    p = Prompt.empty(4, box=[0, 0, 8, 8]).add(1, (3.0, 4.0), 0)
    assert p.valid.tolist() == [False, True, False, False] and int(p.labels[1]) == 0
    assert p.truncated(2).points.shape == (2, 2)
    scaled = p.scaled(np.array([2.0, 0.5], np.float32))
    np.testing.assert_allclose(scaled.points[1], [6.0, 2.0])
    np.testing.assert_allclose(scaled.box, [0, 0, 16, 4])
