"""Prompt encoder parity: points (with the pad point), boxes, masks, dense PE."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from eigjax.models.prompt import Prompt
from eigjax.models.prompt_encoder import PromptEncoder
from tests.helpers import TINY, assert_parity


def _apply(model, method, *args):
    pe = PromptEncoder(TINY.prompt_encoder, TINY.embedding_size, TINY.image_size)
    params = {"params": model.params["prompt_encoder"]}
    return np.asarray(pe.apply(params, *args, method=method))


def _prompts(n: int, seed: int):
    rng = np.random.RandomState(seed)
    points = rng.uniform(0, TINY.image_size, (n, 2)).astype(np.float32)
    labels = rng.randint(0, 2, n)
    labels[:1] = 1
    return points, labels


@pytest.mark.parametrize("n", [0, 1, 2, 5])
@pytest.mark.parametrize("with_box", [False, True])
def test_sparse_embeddings_match_official(tiny_official, tiny_model, n, with_box):
    points, labels = _prompts(n, seed=n)
    box = np.array([10.5, 20.0, 200.0, 180.25], np.float32) if with_box else None
    pe = PromptEncoder(TINY.prompt_encoder, TINY.embedding_size, TINY.image_size)
    sparse, sparse_mask, dense = pe.apply(
        {"params": tiny_model.params["prompt_encoder"]}, Prompt.create(points, labels, box)
    )
    assert sparse_mask.shape == (sparse.shape[0],) and bool(sparse_mask.all())
    with torch.no_grad():
        ref_sparse, ref_dense = tiny_official.prompt_encoder(
            points=(torch.as_tensor(points)[None], torch.as_tensor(labels)[None]),
            boxes=None if box is None else torch.as_tensor(box)[None],
            masks=None,
        )
    assert_parity(sparse, ref_sparse[0].numpy(), f"sparse n={n} box={with_box}")
    assert_parity(dense, ref_dense[0].permute(1, 2, 0).numpy(), "no-mask dense")


def test_mask_embedding_matches_official(tiny_official, tiny_model):
    mask = np.random.RandomState(3).randn(TINY.low_res_size, TINY.low_res_size).astype(np.float32)
    ours = _apply(tiny_model, PromptEncoder.embed_mask, jnp.asarray(mask))
    with torch.no_grad():
        ref = tiny_official.prompt_encoder._embed_masks(torch.as_tensor(mask)[None, None])
    assert_parity(ours, ref[0].permute(1, 2, 0).numpy(), "mask embedding")


def test_dense_pe_matches_official(tiny_official, tiny_model):
    ours = _apply(tiny_model, PromptEncoder.dense_pe)
    with torch.no_grad():
        ref = tiny_official.prompt_encoder.get_dense_pe()[0].permute(1, 2, 0).numpy()
    assert_parity(ours, ref, "dense positional encoding")


def test_labels_select_their_embeddings(tiny_model):
    """A negative and a positive click at one place differ exactly by their label rows."""
    points = jnp.array([[50.0, 60.0], [50.0, 60.0]])
    emb = _apply(tiny_model, PromptEncoder.embed_points, points, jnp.array([0, 1]), False)
    table = np.asarray(tiny_model.params["prompt_encoder"]["point_embeddings"])
    np.testing.assert_allclose(emb[1] - emb[0], table[1] - table[0], atol=1e-5)
