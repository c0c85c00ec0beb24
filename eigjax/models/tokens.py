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


def proposed_token(iou: jax.Array, mask_rule: str, prompt: Prompt) -> jax.Array:
    """The token whose mask is proposed: token 0 ("token0"); the multimask token with the
    best predicted IoU [M] ("best_iou"; ties: the lowest token); or that token for a
    `single_click` prompt and token 0 otherwise ("best_iou_first", as SAM's and SAM 2's
    predictors are used and trained). A settings' rule "model" is resolved first
    (`Settings.resolved`)."""
    if mask_rule == "token0":
        return jnp.zeros((), jnp.int32)
    if mask_rule not in ("best_iou", "best_iou_first"):
        raise ValueError(f"mask rule {mask_rule!r}: resolve it for the model first")
    best = 1 + jnp.argmax(iou[1:])
    if mask_rule == "best_iou":
        return best
    return jnp.where(single_click(prompt), best, 0).astype(best.dtype)
