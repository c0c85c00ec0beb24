"""SAM's interactive training on one object and on a batch, as pure jittable functions.

A training example lives in the model's low-res frame [r, r] (`Example`): the frozen
image embedding, the ground truth and the real-pixel region there. Its sequence (SAM
§A "Training algorithm"; SAM 2's `MultiStepMultiMasksAndIous` and `sample_next_point`):

  step 0       a positive click uniform in the mask, or the mask's box with noise
               (std 10 % of its side, at most 20 px at 1024²) when `use_box`;
  steps 1..C   a click uniform in the error region of the previous proposed mask
               (positive on a missed pixel, negative on a false one), the previous
               proposed low-res logits fed back as the mask input, without gradient.
               The proposed mask is token 0's, or after a single click the multimask
               head of best predicted IoU (as SAM 2 picks it).

Each step's loss is `losses.step_loss`: the best multimask head's mask terms after a
single click (only that head learns from it), token 0's otherwise, and every head's
IoU error. The sequence's loss is the mean over its 1 + C steps.
"""

import flax.struct
import jax
import jax.numpy as jnp

from eigjax.models import configs
from eigjax.models.prompt import Prompt
from eigjax.models.sam import Sam
from eigjax.training import losses

BOX_NOISE = 0.1  # Std of each box coordinate's noise, as a share of the box's side.
BOX_NOISE_MAX = 20.0  # Its bound in pixels of a 1024² input (SAM's), scaled to others.


@flax.struct.dataclass
class Example:
    """One object: features [h, w, C] (and SAM 2's high-res features, else None), gt
    bool [r, r], region bool [r, r] (the image's pixels inside the padded input)."""

    features: jax.Array
    gt: jax.Array
    region: jax.Array
    high_res: tuple | None = None


def pixel_to_input(ij: jax.Array, config: configs.ModelConfig) -> jax.Array:
    """Low-res pixel (row, col) int [2] → the point (x, y) float [2] at its centre in the
    encoder input's frame."""
    s = config.image_size / config.low_res_size
    return (ij[::-1].astype(jnp.float32) + 0.5) * s - 0.5


def sample_pixel(key: jax.Array, where: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A pixel (row, col) int [2] uniform over `where` bool [r, r], and whether there was
    any (False: the pixel is meaningless)."""
    noise = jax.random.gumbel(key, where.shape)
    flat = jnp.argmax(jnp.where(where, noise, -jnp.inf).ravel())
    return jnp.stack(jnp.unravel_index(flat, where.shape)), where.any()


def noisy_box(key: jax.Array, gt: jax.Array, config: configs.ModelConfig) -> jax.Array:
    """gt's box (x0, y0, x1, y1) float [4] in the input frame, each coordinate moved by
    N(0, (10 % of the box's side)²) clipped at 20 px of a 1024² input, kept in the input."""
    rows, cols = gt.any(1), gt.any(0)
    r = gt.shape[0]
    first = lambda a: jnp.argmax(a)  # noqa: E731
    last = lambda a: r - 1 - jnp.argmax(a[::-1])  # noqa: E731
    lo = pixel_to_input(jnp.stack([first(rows), first(cols)]), config)
    hi = pixel_to_input(jnp.stack([last(rows), last(cols)]), config)
    side = jnp.concatenate([hi - lo, hi - lo])
    bound = BOX_NOISE_MAX * config.image_size / 1024
    noise = jnp.clip(jax.random.normal(key, (4,)) * BOX_NOISE * side, -bound, bound)
    box = jnp.clip(jnp.concatenate([lo, hi]) + noise, 0, config.image_size - 1)
    x = jnp.sort(box[0::2])
    y = jnp.sort(box[1::2])
    return jnp.stack([x[0], y[0], x[1], y[1]])


def sequence_loss(
    params: dict,
    network: Sam,
    example: Example,
    key: jax.Array,
    use_box: bool,
    correction_clicks: int,
) -> tuple[jax.Array, dict]:
    """The mean loss over one object's 1 + C steps, and its metrics.

    Returns:
      (loss [], {"focal", "dice", "iou" (the step-mean terms), "first_iou" (true IoU of
      the proposed mask after the first prompt), "mean_iou" (over the steps)} each []).
      The loss's head after a single click is the best against the ground truth; the
      proposed mask's is the best by predicted IoU.
    """
    config = network.config
    r = config.low_res_size
    k_first, k_box, k_clicks = jax.random.split(key, 3)
    box = noisy_box(k_box, example.gt, config) if use_box else None
    prompt = Prompt.empty(1 + correction_clicks, box=box, mask_size=r)
    if not use_box:
        ij, _ = sample_pixel(k_first, example.gt & example.region)
        prompt = prompt.add(0, pixel_to_input(ij, config), 1)
    total, terms, ious = 0.0, [], []
    for t, k in enumerate(jax.random.split(k_clicks, 1 + correction_clicks)):
        logits, iou = network.apply(
            {"params": params},
            example.features,
            prompt,
            example.high_res,
            method=Sam.decode_input_frame,
        )
        loss, parts, head = losses.step_loss(
            logits, iou, example.gt, example.region, multimask=(t == 0 and not use_box)
        )
        total = total + loss
        terms.append(parts)
        if t == 0 and not use_box:  # SAM 2's `_forward_sam_heads`: the best predicted IoU.
            head = 1 + jnp.argmax(iou[1:])
        proposed = jax.lax.stop_gradient(logits[head])
        ious.append(losses.true_iou(proposed, example.gt, example.region))
        if t == correction_clicks:
            break
        error = ((proposed > 0) != example.gt) & example.region
        ij, any_error = sample_pixel(k, error)
        label = example.gt[ij[0], ij[1]].astype(jnp.int32)
        prompt = prompt.add(1 + t, pixel_to_input(ij, config), label)
        prompt = prompt.replace(valid=prompt.valid.at[1 + t].set(any_error))
        prompt = prompt.with_mask(proposed)
    steps = 1 + correction_clicks
    metrics = {name: sum(p[name] for p in terms) / steps for name in ("focal", "dice", "iou")}
    metrics["first_iou"] = ious[0]
    metrics["mean_iou"] = sum(ious) / steps
    return total / steps, metrics


def batch_loss(
    trainable: dict,
    frozen: dict,
    network: Sam,
    batch: Example,
    keys: jax.Array,
    use_box: bool,
    correction_clicks: int,
) -> tuple[jax.Array, dict]:
    """Mean `sequence_loss` over a batch [B, ...] of examples (keys [B]); the params are
    `trainable` and `frozen` merged (the gradient is taken on `trainable`)."""
    params = {**frozen, **trainable}

    def one(example, key):
        return sequence_loss(params, network, example, key, use_box, correction_clicks)

    loss, metrics = jax.vmap(one)(batch, keys)
    return loss.mean(), jax.tree_util.tree_map(jnp.mean, metrics)
