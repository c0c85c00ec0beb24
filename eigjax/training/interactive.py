"""SAM's interactive training on one object and on a batch, as pure jittable functions.

A training example lives in the model's low-res frame [r, r] (`Example`): the frozen
image embedding, the ground truth and the real-pixel region there. Its sequence (SAM
§A "Training algorithm"; SAM 2's `MultiStepMultiMasksAndIous` and `sample_next_point`):

  step 0       a positive click uniform in the mask, or the mask's box with noise
               (std 10 % of its side, at most 20 px at 1024²) when `use_box`;
  then C       correction clicks (`next_click`): uniform in the error region of the
               previous proposed mask (positive on a missed pixel, negative on a false
               one), 10 % from the ground truth, a negative background click where
               nothing is wrong; and R = 2 refinement rounds with no new click (SAM §A:
               one among the corrections, one last). Every step feeds the previous
               proposed low-res logits back as the mask input, without gradient. The
               proposed mask is token 0's, or after a single click the multimask head
               of best predicted IoU (as SAM 2 picks it).

Each step's loss is `losses.step_loss`: the best multimask head's mask terms after a
single click (only that head learns from it), token 0's otherwise, and the IoU error
(L1) of the tokens the step outputs. The sequence's loss is the sum over its steps
(`Recipe`; SAM 2 sums).
"""

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp

from eigjax.models import configs, tokens
from eigjax.models.network import Sam
from eigjax.models.prompt import Prompt
from eigjax.training import losses

# How the sequences above propose a mask and feed it back, as the protocol names it: what
# fine-tuned params record (`checkpoint.save(loop=...)`), so that a study evaluates them as
# they were trained.
TRAINED_LOOP = {"mask_rule": "best_iou_first", "mask_feedback": "logits"}

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


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What a sequence does besides its first prompt (static under `jit`).

    correction_clicks: C clicks from the error region after the first prompt (SAM 2: 7).
    refinement_rounds: steps with no new click, the previous mask fed back only (SAM §A:
      2; one at a random step among the corrections, after the first, the other last).
    p_click_from_gt: a correction click's chance to come from the ground truth instead
      (positive, uniform in the mask: SAM 2's `prob_to_sample_from_gt_for_train`, 0.1).
    iou_loss: "l1" (SAM 2.1) or "mse" (`losses.step_loss`).
    """

    correction_clicks: int = 7
    refinement_rounds: int = 2
    p_click_from_gt: float = 0.1
    iou_loss: str = "l1"

    @property
    def steps(self) -> int:
        return 1 + self.correction_clicks + self.refinement_rounds


def next_click(key, proposed, example: Example, p_gt: float):
    """A correction click: pixel (row, col) int [2], its label, and whether there is one.

    Uniform in the proposed mask's error region, labelled by the ground truth; with chance
    `p_gt`, uniform in the ground truth instead (positive); where nothing is wrong, a
    negative click uniform in the background (SAM 2's `sample_random_points_from_errors`:
    a confirming click, so training sees one after the first)."""
    k_gt, k_pixel = jax.random.split(key)
    gt, region = example.gt, example.region
    error = ((proposed > 0) != gt) & region
    where = jnp.where(error.any(), error, ~gt & region)
    where = jnp.where(jax.random.uniform(k_gt) < p_gt, gt & region, where)
    ij, found = sample_pixel(k_pixel, where)
    return ij, gt[ij[0], ij[1]].astype(jnp.int32), found


def _corrected(prompt, t, key, proposed, example, recipe, click, config) -> Prompt:
    """`prompt` with step t's correction click in slot t (`next_click`), unless `click` is
    False (the random refinement round) or there is no pixel to click."""
    ij, label, found = next_click(key, proposed, example, recipe.p_click_from_gt)
    prompt = prompt.add(t, pixel_to_input(ij, config), label)
    return prompt.replace(valid=prompt.valid.at[t].set(found & click))


def sequence_loss(
    params: dict,
    network: Sam,
    example: Example,
    key: jax.Array,
    use_box: bool,
    recipe: Recipe,
) -> tuple[jax.Array, dict]:
    """The loss summed over one object's 1 + C + R steps (SAM 2 sums), and its metrics.

    Steps 1 … C + 1 add a correction click each but for one refinement round among them
    (from step 2 on: a single click is only ever step 0's prompt); the last R − 1 steps
    are refinement rounds. Every step feeds its proposed logits back as the mask input.

    Returns:
      (loss [], {"focal", "dice", "iou" (step means), "first_iou" (true IoU of the
      proposed mask after the first prompt), "mean_iou" (over the steps)} each []).
    """
    config = network.config
    r = config.low_res_size
    c, rounds = recipe.correction_clicks, recipe.refinement_rounds
    k_first, k_box, k_refine, k_clicks = jax.random.split(key, 4)
    box = noisy_box(k_box, example.gt, config) if use_box else None
    slots = 1 + c + (1 if c and rounds else 0)  # Click slots: the random round keeps one.
    prompt = Prompt.empty(slots, box=box, mask_size=r)
    if not use_box:
        ij, _ = sample_pixel(k_first, example.gt & example.region)
        prompt = prompt.add(0, pixel_to_input(ij, config), 1)
    # The random refinement round: at a step in 2 … C + 1 (none to place with C = 0).
    inserted = jax.random.randint(k_refine, (), 2, c + 2) if c and rounds else -1
    total, terms, ious, proposed = 0.0, [], [], None
    keys = jax.random.split(k_clicks, recipe.steps)
    for t in range(recipe.steps):
        if t:
            prompt = prompt.with_mask(proposed)
        if 0 < t < slots:  # A click slot: a correction click, or the random round.
            click = t != inserted
            prompt = _corrected(prompt, t, keys[t], proposed, example, recipe, click, config)
        logits, iou = network.apply(
            {"params": params},
            example.features,
            prompt,
            example.high_res,
            method=Sam.decode_input_frame,
        )
        # A single click (`tokens.single_click`): step 0's, every step's with C = 0.
        multimask = not use_box and (t == 0 or c == 0)
        loss, parts, _ = losses.step_loss(
            logits, iou, example.gt, example.region, multimask, recipe.iou_loss
        )
        total = total + loss
        terms.append(parts)
        head = tokens.proposed_token(iou, TRAINED_LOOP["mask_rule"], prompt, logits)
        proposed = jax.lax.stop_gradient(logits[head])
        ious.append(losses.true_iou(proposed, example.gt, example.region))
    steps = recipe.steps
    metrics = {name: sum(p[name] for p in terms) / steps for name in ("focal", "dice", "iou")}
    metrics["first_iou"] = ious[0]
    metrics["mean_iou"] = sum(ious) / steps
    return total, metrics


def batch_loss(
    trainable: dict,
    frozen: dict,
    network: Sam,
    batch: Example,
    keys: jax.Array,
    use_box: bool,
    recipe: Recipe,
) -> tuple[jax.Array, dict]:
    """Mean `sequence_loss` over a batch [B, ...] of examples (keys [B]); the params are
    `trainable` and `frozen` merged (the gradient is taken on `trainable`)."""
    params = {**frozen, **trainable}

    def one(example, key):
        return sequence_loss(params, network, example, key, use_box, recipe)

    loss, metrics = jax.vmap(one)(batch, keys)
    return loss.mean(), jax.tree_util.tree_map(jnp.mean, metrics)
