"""SAM's training losses: the ambiguity-aware minimum, where the gradient goes, the IoU
target, and the terms' bounds."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigjax.training import losses

R = 16


def _case():
    gt = np.zeros((R, R), bool)
    gt[4:10, 3:12] = True
    region = np.ones((R, R), bool)
    region[:, -2:] = False  # Padding on the right.
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (4, R, R)).astype(np.float32)
    logits[2] = np.where(gt, 6.0, -6.0)  # Head 2 is nearly right.
    return jnp.asarray(logits), jnp.asarray(gt), jnp.asarray(region)


def _loss_grad(logits, gt, region, multimask):
    iou = jnp.full(4, 0.5)

    def f(x):
        return losses.step_loss(x, iou, gt, region, multimask)[0]

    return jax.grad(f)(logits)


@pytest.mark.parametrize(
    "multimask, supervised",
    [(True, 2), (False, 0)],  # A single click: the best multimask head; else token 0.
    ids=["single click", "other prompts"],
)
def test_only_the_supervised_head_gets_gradient(multimask, supervised):
    logits, gt, region = _case()
    _, _, head = losses.step_loss(logits, jnp.zeros(4), gt, region, multimask=multimask)
    assert int(head) == supervised
    grad = np.asarray(_loss_grad(logits, gt, region, multimask=multimask))
    assert np.abs(grad[supervised]).max() > 0
    for other in set(range(4)) - {supervised}:
        np.testing.assert_array_equal(grad[other], 0.0)


def test_the_iou_term_targets_every_heads_true_iou():
    logits, gt, region = _case()
    m = np.asarray(logits) > 0
    g, w = np.asarray(gt), np.asarray(region)
    true = np.array([((k & g & w).sum()) / ((k & w) | (g & w)).sum() for k in m])
    _, parts, _ = losses.step_loss(logits, jnp.asarray(true), gt, region, multimask=True)
    assert float(parts["iou"]) < 1e-12
    _, parts, _ = losses.step_loss(logits, jnp.asarray(true + 0.1), gt, region, multimask=True)
    np.testing.assert_allclose(float(parts["iou"]), 0.01, rtol=1e-5)
    # The IoU head's gradient is the error against those true IoUs, on every head.
    grad = jax.grad(lambda p: losses.step_loss(logits, p, gt, region, True)[0])(
        jnp.asarray(true + 0.1)
    )
    np.testing.assert_allclose(np.asarray(grad), 2 * 0.1 / 4, rtol=1e-5)


@settings(deadline=None, max_examples=30)
@given(
    st.integers(0, 2**31 - 1),
    st.floats(0.1, 20.0),
)
def test_terms_are_bounded_and_blind_outside_the_region(seed, scale):
    rng = np.random.default_rng(seed)
    logits = jnp.asarray(rng.normal(0, scale, (3, R, R)), jnp.float32)
    gt = jnp.asarray(rng.random((R, R)) < 0.3)
    region = jnp.asarray(np.arange(R)[None, :] < R - 3).repeat(R, 0)
    f, d = losses.focal(logits, gt, region), losses.dice(logits, gt, region)
    assert np.all(np.asarray(f) >= 0) and np.all((np.asarray(d) >= 0) & (np.asarray(d) <= 1))
    moved = logits.at[:, :, -3:].set(100.0)  # Only padding changes.
    np.testing.assert_array_equal(losses.focal(moved, gt, region), f)
    np.testing.assert_array_equal(losses.dice(moved, gt, region), d)
    np.testing.assert_array_equal(
        losses.true_iou(moved, gt, region), losses.true_iou(logits, gt, region)
    )


def test_a_perfect_mask_has_near_zero_mask_terms():
    _, gt, region = _case()
    perfect = jnp.where(gt, 30.0, -30.0)[None]
    terms = losses.mask_terms(perfect, gt, region)
    assert float(terms["focal"][0]) < 1e-9 and float(terms["dice"][0]) < 1e-6
    assert float(losses.true_iou(perfect, gt, region)[0]) == 1.0
