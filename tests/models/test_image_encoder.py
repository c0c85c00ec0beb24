"""Image encoder parity with the official ViT (reduced; the full sam_vit_b encoder is
checked on a real image in test_model.py), and the window helpers."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from eigjax.models.layers import window_partition, window_unpartition
from eigjax.models.network import Sam
from tests.helpers import TINY, assert_parity


def _encode(model, x_nchw: np.ndarray) -> np.ndarray:
    x = jnp.asarray(x_nchw.transpose(0, 2, 3, 1))
    embedding, high_res = model.network.apply({"params": model.params}, x, method=Sam.encode)
    assert high_res is None  # SAM 1 has no high-resolution skips.
    return np.asarray(embedding)


def _reference(sam, x_nchw: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return sam.image_encoder(torch.as_tensor(x_nchw)).permute(0, 2, 3, 1).numpy()


def test_window_partition_round_trip_with_padding():
    x = jnp.arange(2 * 16 * 16 * 3, dtype=jnp.float32).reshape(2, 16, 16, 3)
    windows, padded = window_partition(x, 7)
    assert windows.shape == (2 * 9, 7, 7, 3) and padded == (21, 21)
    np.testing.assert_array_equal(window_unpartition(windows, 7, padded, (16, 16)), x)


@pytest.mark.slow
def test_reduced_encoder_matches_official(tiny_official, tiny_model):
    x = np.random.RandomState(0).randn(2, 3, TINY.image_size, TINY.image_size).astype(np.float32)
    assert_parity(_encode(tiny_model, x), _reference(tiny_official, x), "reduced ViT encoder")
