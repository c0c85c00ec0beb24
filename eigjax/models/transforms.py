"""Pre- and post-processing of a model, as its reference implementation does it.

Preprocessing follows the rule the config names, which its family defines
(`Family.preprocess`); post-processing composes the reference's interpolations into two
resampling matrices (`resample.py`), applied by their few taps. Host-side numpy for the
image (it runs once per image); post-processing is traceable.
"""

import jax
import jax.numpy as jnp
import numpy as np

from eigjax.models import configs, families
from eigjax.models.resample import bilinear_matrix, longest_side_shape, resample, taps
from eigjax.pixels import to_uint8_rgb


def input_size(original_size: tuple[int, int], config: configs.ModelConfig) -> tuple[int, int]:
    """Size (h, w) of the resized, unpadded image inside the encoder's square input."""
    if families.preprocessing(config).keeps_aspect:
        return longest_side_shape(*original_size, config.image_size)
    return config.image_size, config.image_size


def encoder_input(
    image: np.ndarray, gt: np.ndarray | None, config: configs.ModelConfig
) -> np.ndarray:
    """An image (and its ground truth bool [H, W], which only the calibrated control reads,
    and needs) → float32 [S, S, C], the encoder input for `config`.

    uint8 [H, W, 3] as is; any other image array (gray, alpha, 16-bit, float) is first
    converted by the rule of `eigjax.pixels.to_uint8_rgb`.
    """
    return families.preprocessing(config).input(to_uint8_rgb(image), gt, config)


def preprocess(image: np.ndarray, config: configs.ModelConfig) -> np.ndarray:
    """`encoder_input` of an image alone: float32 [S, S, 3]."""
    return encoder_input(image, None, config)


def transform_coords(
    coords: np.ndarray, original_size: tuple[int, int], config: configs.ModelConfig
) -> np.ndarray:
    """(x, y) pairs [..., 2] in original-image pixels → the encoder input's frame."""
    old_h, old_w = original_size
    new_h, new_w = input_size(original_size, config)
    coords = np.asarray(coords, np.float64)
    scale = np.array([new_w / old_w, new_h / old_h])
    return (coords * scale).astype(np.float32)


def _direct(original_size: tuple[int, int], config: configs.ModelConfig) -> tuple:
    """Bilinear straight to the original size (MedSAM's inference, SAM 2's predictor)."""
    r, (h, w) = config.low_res_size, original_size
    return bilinear_matrix(r, h), bilinear_matrix(r, w)


def _upscale_crop_resize(original_size: tuple[int, int], config: configs.ModelConfig) -> tuple:
    """Bilinear to image_size, the unpadded input region cropped, bilinear to the original
    size (SAM's `Sam.postprocess_masks`)."""
    h, w = original_size
    in_h, in_w = input_size(original_size, config)
    up = bilinear_matrix(config.low_res_size, config.image_size)
    return bilinear_matrix(in_h, h) @ up[:in_h], bilinear_matrix(in_w, w) @ up[:in_w]


# How low-res logits go back to the original size, by `ModelConfig.postprocess`.
POSTPROCESS = {"direct": _direct, "upscale_crop_resize": _upscale_crop_resize}


def postprocess_matrices(
    original_size: tuple[int, int], config: configs.ModelConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Rows [H, r] and columns [W, r] maps: logits_full = R_h @ low_res @ R_w.T.

    r is the low-res side (256). The maps compose the reference's interpolations exactly
    (in float64, then cast), so post-processing is one small matmul per mask.
    """
    rows, cols = POSTPROCESS[config.postprocess](original_size, config)
    return rows.astype(np.float32), cols.astype(np.float32)


def postprocess(
    low_res: jax.Array, original_size: tuple[int, int], config: configs.ModelConfig
) -> jax.Array:
    """Low-res logits [..., r, r] → [..., H, W] at the original size (traceable); SAM 3's
    small background holes filled first (`config.max_hole_area`, `fill_holes`).

    Applies `postprocess_matrices` by their 2-4 non-zero taps per output pixel (gathers
    and a few multiply-adds) rather than as dense [H, r] and [W, r] products: the same
    float32 weights, a few MFLOP per mask instead of ~0.34 GMAC at 1024².
    """
    rows, cols = (taps(m) for m in postprocess_matrices(original_size, config))
    if config.max_hole_area:
        low_res = fill_holes(low_res, config.max_hole_area)
    with jax.named_scope("postprocess"):
        x = resample(low_res, *rows, axis=-2)
        return resample(x, *cols, axis=-1)


def component_areas(mask: jax.Array) -> jax.Array:
    """int32 [h, w]: the pixel count of each True pixel's 8-connected component (0 off
    it), as scikit-image's `label` (full connectivity) and a count per label give it.

    Min-label propagation over the 3 × 3 neighbourhood with pointer jumping (a label is
    the index of a pixel of the same component, so following it stays inside), until no
    label changes: exact, traceable, and a few dozen rounds for ordinary masks.
    """
    h, w = mask.shape
    n = h * w
    start = jnp.where(mask, jnp.arange(n, dtype=jnp.int32).reshape(h, w), n)

    def step(state):
        labels, _ = state
        padded = jnp.pad(labels, 1, constant_values=n)
        shifted = [padded[i : i + h, j : j + w] for i in range(3) for j in range(3)]
        smallest = jnp.where(mask, jnp.min(jnp.stack(shifted), axis=0), n).ravel()
        followed = jnp.concatenate([smallest, jnp.array([n], jnp.int32)])[smallest]
        new = jnp.minimum(smallest, followed).reshape(h, w)
        return new, jnp.any(new != labels)

    labels, _ = jax.lax.while_loop(lambda s: s[1], step, (start, jnp.array(True)))
    counts = jnp.zeros(n + 1, jnp.int32).at[labels.ravel()].add(1)
    return jnp.where(mask, counts[labels], 0)


def fill_holes(low_res: jax.Array, max_area: int) -> jax.Array:
    """Logits [..., r, r] with every 8-connected background component (logits ≤ 0) of at
    most `max_area` pixels set to 10 (SAM 3's `SAM2Transforms.postprocess_masks` with
    `max_hole_area`, mask threshold 0: a component touching the border counts too)."""
    flat = low_res.reshape(-1, *low_res.shape[-2:])

    def one(logits):
        area = component_areas(logits <= 0)
        return jnp.where((area > 0) & (area <= max_area), 10.0, logits)

    with jax.named_scope("fill_holes"):
        return jax.vmap(one)(flat).reshape(low_res.shape).astype(low_res.dtype)


def clamp_low_res(low_res: jax.Array, config: configs.ModelConfig) -> jax.Array:
    """Low-res logits as the reference's predictor returns them (SAM 2 clamps to ±32)."""
    c = config.low_res_clamp
    return low_res if c is None else jnp.clip(low_res, -c, c)
