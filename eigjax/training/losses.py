"""SAM's mask losses, as SAM 2's `training/loss_fns.py` computes them, on one object.

Every function takes low-res logits and a ground truth in the same [r, r] frame and a
`region` [r, r] of real pixels (the encoder input's padding is left out of every term).
"""

import jax
import jax.numpy as jnp

FOCAL_WEIGHT = 20.0  # SAM 2.1's `weight_dict`: loss_mask 20, loss_dice 1, loss_iou 1.
DICE_WEIGHT = 1.0
IOU_WEIGHT = 1.0


def focal(logits: jax.Array, gt: jax.Array, region: jax.Array, alpha=0.25, gamma=2.0):
    """Sigmoid focal loss (RetinaNet's, SAM 2's `sigmoid_focal_loss`), mean over `region`.

    logits float [..., r, r]; gt, region bool [r, r] → float [...].
    """
    t = jnp.broadcast_to(gt, logits.shape).astype(logits.dtype)
    p = jax.nn.sigmoid(logits)
    ce = jnp.logaddexp(0.0, logits) - logits * t  # Binary cross-entropy with logits.
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma * (alpha * t + (1 - alpha) * (1 - t))
    w = region.astype(logits.dtype)
    return (loss * jnp.broadcast_to(w, loss.shape)).sum((-2, -1)) / jnp.maximum(w.sum(), 1.0)


def dice(logits: jax.Array, gt: jax.Array, region: jax.Array):
    """1 − soft Dice of sigmoid(logits) with gt over `region` (+1 smoothing, SAM 2's
    `dice_loss`). logits float [..., r, r] → float [...]."""
    w = jnp.broadcast_to(region, logits.shape).astype(logits.dtype)
    p = jax.nn.sigmoid(logits) * w
    t = jnp.broadcast_to(gt, logits.shape).astype(logits.dtype) * w
    return 1 - (2 * (p * t).sum((-2, -1)) + 1) / (p.sum((-2, -1)) + t.sum((-2, -1)) + 1)


def true_iou(logits: jax.Array, gt: jax.Array, region: jax.Array) -> jax.Array:
    """IoU of the mask logits > 0 with gt over `region`, float [...]; 1 when both are
    empty. No gradient: it is the target of the IoU head."""
    gt, region = (jnp.broadcast_to(a, logits.shape) for a in (gt, region))
    m = (jax.lax.stop_gradient(logits) > 0) & region
    inter = (m & gt).sum((-2, -1))
    union = (m | (gt & region)).sum((-2, -1))
    return jnp.where(union > 0, inter / jnp.maximum(union, 1), 1.0)


def mask_terms(logits: jax.Array, gt: jax.Array, region: jax.Array) -> dict:
    """{"focal", "dice", "mask"} per head [M]: the terms and 20 × focal + 1 × dice."""
    f, d = focal(logits, gt, region), dice(logits, gt, region)
    return {"focal": f, "dice": d, "mask": FOCAL_WEIGHT * f + DICE_WEIGHT * d}


IOU_LOSSES = ("l1", "mse")  # SAM 2.1 regresses the IoU head with L1 (`iou_use_l1_loss`).


def step_loss(
    logits: jax.Array,
    iou_pred: jax.Array,
    gt: jax.Array,
    region: jax.Array,
    multimask: bool,
    iou_loss: str = "l1",
) -> tuple[jax.Array, dict, jax.Array]:
    """One prediction's loss, as SAM 2's `MultiStepMultiMasksAndIous` scores one step.

    Args:
      logits: float [M, r, r], every mask token (token 0 the single-mask output).
      iou_pred: float [M], the IoU head.
      gt, region: bool [r, r].
      multimask: the prompt is ambiguous (a single click): the step outputs tokens
        1..M-1 and its mask terms are those of the best of them (SAM's minimum over the
        multimask outputs: only that head gets gradient); else it outputs token 0.
      iou_loss: "l1" (SAM 2.1) or "mse": the IoU head's error on each output token.

    Returns:
      (loss [], {"focal", "dice", "iou"} [], the supervised head's index []): the loss is
      20 × focal + 1 × dice of that head + 1 × the mean IoU error over the step's output
      tokens (SAM 2's `supervise_all_iou` over the masks the step outputs).
    """
    if iou_loss not in IOU_LOSSES:
        raise ValueError(f"iou_loss must be one of {IOU_LOSSES}, got {iou_loss!r}")
    terms = mask_terms(logits, gt, region)
    if multimask:
        head = 1 + jnp.argmin(jax.lax.stop_gradient(terms["mask"][1:]))
        outputs = slice(1, None)
    else:
        head = jnp.asarray(0)
        outputs = slice(0, 1)
    error = iou_pred[outputs] - true_iou(logits[outputs], gt, region)
    iou_error = jnp.mean(jnp.abs(error) if iou_loss == "l1" else error**2)
    loss = terms["mask"][head] + IOU_WEIGHT * iou_error
    return (
        loss,
        {"focal": terms["focal"][head], "dice": terms["dice"][head], "iou": iou_error},
        head,
    )
