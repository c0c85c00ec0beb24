"""Inputs the benchmarks share: the real CT case, a synthetic one, and one image's protocol
state ready for an Oracle step, built through the protocol's public step API.

The protocol is imported inside the functions that use it: `oracle_step.py` also imports
this module under older eigjax trees (its baseline variant), which lack that API.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from eigjax.data import read_image, read_mask
from references import DEMO_DIR

DEMO = os.path.join(DEMO_DIR, "data_demo")


def ct_case(size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """A real 512² CT slice with its liver mask (SA-Med2D demo), subsampled to `size`."""
    image = read_image(os.path.join(DEMO, "images", "amos_0004_75.png"))
    gt = read_mask(os.path.join(DEMO, "masks", "amos_0004_75_liver_000.png"))
    step = image.shape[0] // size
    return image[::step, ::step], gt[::step, ::step]


def ellipse(size: int) -> np.ndarray:
    """bool [size, size]: an off-centre ellipse, the synthetic ground truth."""
    yy, xx = np.mgrid[:size, :size]
    return (yy - 0.49 * size) ** 2 / (0.3 * size) ** 2 + (xx - 0.47 * size) ** 2 / (
        0.2 * size
    ) ** 2 < 1


def batch_of_one(tree):
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], tree)


def embedding(features, size: tuple[int, int], batched: bool = False):
    """An `Embedding` of `features`: [h, w, C], or SAM 2's (embed, s0, s1) (NHWC)."""
    from eigjax.models import Embedding

    parts = features if isinstance(features, tuple) else (features,)
    parts = [jnp.asarray(p)[None] if batched else jnp.asarray(p) for p in parts]
    return Embedding(parts[0], size, tuple(parts[1:]) or None)


def random_features(config, seed: int = 0):
    """Seeded random embedding features for `config` (SAM 2: with its high-res levels)."""
    rng = np.random.default_rng(seed)
    n, c = config.embedding_size, config.mask_decoder.transformer_dim
    embed = rng.standard_normal((n, n, c)).astype(np.float32)
    if not config.mask_decoder.high_res_features:
        return embed
    s0 = rng.standard_normal((4 * n, 4 * n, c // 8)).astype(np.float32)
    s1 = rng.standard_normal((2 * n, 2 * n, c // 4)).astype(np.float32)
    return embed, s0, s1


def oracle_inputs(model, gt: np.ndarray, features, settings, placed: int = 1):
    """(problems, start) of one image as the protocol batches them (`features` as
    `embedding` takes them), with the centre click
    and `placed` - 1 further grid clicks (labelled by `gt`) already in the prompt: the
    arguments of `protocol.begin_batch`, and with `start.state` of `protocol.search_batch`
    at step `placed`."""
    from eigjax import protocol

    capacity = protocol.click_capacity(20)
    first = protocol.start(gt, capacity, model.config, settings, 0).start
    grid = protocol.grid_points(gt, settings)
    state = first.state
    for k in range(1, placed):
        x, y = np.asarray(grid[k * 7 % len(grid)]).tolist()
        state = state.add(k, (x, y), int(gt[y, x]), grid)
    emb = embedding(features, gt.shape, batched=True)
    network, params = model.at_precision(settings.precision)
    problems = protocol.Problem(network, jax.device_put(params), emb, jnp.asarray(gt)[None])
    return problems, batch_of_one(first.replace(state=state))


def oracle_step(problems, state, s: int, settings):
    """The protocol's Oracle step s compiled as the runner compiles it (its chunk chosen by
    the protocol's rule): (compiled step, its arguments, the settings it ran with)."""
    import dataclasses

    from eigjax import protocol

    args = (problems, state, jnp.asarray(s))

    kw = {"choose": protocol.oracle_click, "capacity": s + 1}

    def lower(probe):
        return protocol.search_batch.lower(*args, **kw, settings=probe)

    chunk = protocol.oracle_chunk(settings, lower)
    settings = dataclasses.replace(settings, oracle_chunk=chunk)
    step = protocol.COMPILED.get(protocol.search_batch, *args, **kw, settings=settings)
    return step, args, settings
