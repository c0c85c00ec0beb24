"""Which mask token a model proposes: the one rule the protocol, the fine-tune, `predict`
and the benchmarks share (the rules: `configs.MaskRule`)."""

import jax
import jax.numpy as jnp

from eigjax.models.prompt import Prompt


def single_click(prompt: Prompt) -> jax.Array:
    """bool []: the prompt is one point (positive or negative) and no box: the ambiguous
    prompt for which SAM and SAM 2 output their multimask tokens."""
    points = jnp.sum(prompt.valid & (prompt.labels >= 0))
    return (points == 1) & (prompt.box is None)


STABILITY_DELTA = 0.05  # SAM 2's and SAM 3's `dynamic_multimask_stability_delta` …
STABILITY_THRESH = 0.98  # … and `_thresh`, as their builders set them.


def stability(logits: jax.Array) -> jax.Array:
    """float []: a mask's stability, |logits > δ| / |logits > −δ| (1 where the latter is
    empty), `MaskDecoder._get_stability_scores`."""
    inner = jnp.sum(logits > STABILITY_DELTA).astype(jnp.float32)
    outer = jnp.sum(logits > -STABILITY_DELTA).astype(jnp.float32)
    return jnp.where(outer > 0, inner / jnp.maximum(outer, 1.0), 1.0)


def proposed_token(
    iou: jax.Array, mask_rule: str, prompt: Prompt, low_res: jax.Array | None = None
) -> jax.Array:
    """The token whose mask is proposed: token 0 ("token0"); the multimask token with the
    best predicted IoU [M] ("best_iou"; ties: the lowest token); or that token for a
    `single_click` prompt and token 0 otherwise ("best_iou_first", as SAM's and SAM 2's
    predictors are used and trained); or, past a single click, token 0 unless its
    `stability` is below `STABILITY_THRESH`, then the best multimask token
    ("best_iou_first_stable": what SAM 2's and SAM 3's predictors return with
    `multimask_output=False`; it reads the low-res logits [M, r, r]). A settings' rule
    "model" is resolved first (`Settings.resolved`)."""
    if mask_rule == "token0":
        return jnp.zeros((), jnp.int32)
    rules = ("best_iou", "best_iou_first", "best_iou_first_stable")
    if mask_rule not in rules:
        raise ValueError(f"mask rule {mask_rule!r}: resolve it for the model first")
    best = 1 + jnp.argmax(iou[1:])
    if mask_rule == "best_iou":
        return best
    later = jnp.zeros((), best.dtype)
    if mask_rule == "best_iou_first_stable":
        if low_res is None:
            raise ValueError("mask rule 'best_iou_first_stable' reads the low-res logits")
        later = jnp.where(stability(low_res[0]) >= STABILITY_THRESH, later, best)
    return jnp.where(single_click(prompt), best, later).astype(best.dtype)
