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


@pytest.mark.slow
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


@pytest.mark.parametrize("multimask, outputs", [(True, [1, 2, 3]), (False, [0])])
def test_the_iou_term_targets_the_steps_output_tokens_true_iou(multimask, outputs):
    """SAM 2 supervises the IoU of the masks a step outputs (tokens 1-3 after a single
    click, token 0 otherwise), with L1 in 2.1 (`iou_use_l1_loss`) or the squared error."""
    logits, gt, region = _case()
    m = np.asarray(logits) > 0
    g, w = np.asarray(gt), np.asarray(region)
    true = np.array([((k & g & w).sum()) / ((k & w) | (g & w)).sum() for k in m])
    off = true.copy()
    off[outputs] += 0.1
    off[[k for k in range(4) if k not in outputs]] += 0.7  # Not a step's output: ignored.
    _, parts, _ = losses.step_loss(logits, jnp.asarray(true), gt, region, multimask)
    assert float(parts["iou"]) < 1e-7
    for kind, want, slope in (("l1", 0.1, 1.0), ("mse", 0.01, 0.2)):
        _, parts, _ = losses.step_loss(logits, jnp.asarray(off), gt, region, multimask, kind)
        np.testing.assert_allclose(float(parts["iou"]), want, rtol=1e-4)
        grad = jax.grad(lambda p, k=kind: losses.step_loss(logits, p, gt, region, multimask, k)[0])(
            jnp.asarray(off)
        )
        expected = np.zeros(4)
        expected[outputs] = slope / len(outputs)
        np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="iou_loss"):
        losses.step_loss(logits, jnp.asarray(true), gt, region, multimask, "huber")


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
