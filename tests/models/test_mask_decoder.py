"""Mask decoder parity (1, 2, 5 clicks, box, mask prompt), point masking and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from eigjax.models.network import Sam
from eigjax.models.prompt import Prompt
from references import official
from tests.helpers import TINY, assert_parity


def _decode(model, emb, points, labels, box=None, mask=None, valid=None):
    prompt = Prompt.create(points, jnp.asarray(labels, jnp.int32), box, mask, valid)
    return model.network.apply(
        {"params": model.params}, jnp.asarray(emb), prompt, method=Sam.decode_input_frame
    )


def _reference(sam, emb, points, labels, box=None, mask=None):
    features = torch.as_tensor(emb).permute(2, 0, 1)[None]
    return official.decode_official(sam, features, points, labels, box, mask)


def _inputs(n: int, seed: int):
    rng = np.random.RandomState(seed)
    e = TINY.embedding_size
    emb = rng.randn(e, e, 256).astype(np.float32)
    points = rng.uniform(0, TINY.image_size, (n, 2)).astype(np.float32)
    labels = np.array([1, 0, 1, 1, 0][:n])
    return emb, points, labels


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("with_box", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
def test_decoder_matches_official(tiny_official, tiny_model, n, with_box, with_mask):
    emb, points, labels = _inputs(n, seed=n)
    box = np.array([30.0, 40.0, 220.0, 200.0], np.float32) if with_box else None
    r = TINY.low_res_size
    mask = np.random.RandomState(9).randn(r, r).astype(np.float32) * 4 if with_mask else None
    low_res, iou = _decode(tiny_model, emb, points, labels, box, mask)
    ref_low_res, ref_iou = _reference(tiny_official, emb, points, labels, box, mask)
    what = f"decoder n={n} box={with_box} mask={with_mask}"
    assert_parity(low_res, ref_low_res, what + " low-res logits")
    assert_parity(iou, ref_iou, what + " iou")


@pytest.mark.slow
def test_masked_points_are_exactly_absent(tiny_model):
    """Padding clicks with valid=False gives the prediction of the shorter prompt."""
    emb, points, labels = _inputs(5, seed=7)
    short = _decode(tiny_model, emb, points[:2], labels[:2])
    padded = _decode(tiny_model, emb, points, labels, valid=jnp.arange(5) < 2)
    for a, b in zip(padded, short, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    full = _decode(tiny_model, emb, points, labels, valid=jnp.ones(5, bool))
    assert not np.allclose(full[0], short[0], atol=1e-3)


@pytest.mark.slow
def test_vmap_over_prompts_equals_loop(tiny_model):
    emb, points, labels = _inputs(5, seed=11)
    batch = np.stack([points, points[::-1]]), np.stack([labels, labels[::-1]])
    fn = jax.vmap(lambda p, lab: _decode(tiny_model, emb, p, lab))
    low_res, iou = fn(jnp.asarray(batch[0]), jnp.asarray(batch[1], jnp.int32))
    for i in range(2):
        ref = _decode(tiny_model, emb, batch[0][i], batch[1][i])
        np.testing.assert_allclose(low_res[i], ref[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(iou[i], ref[1], rtol=1e-5, atol=1e-5)
