"""Segmentation metrics of a click sequence, as the interactive-segmentation field reads them.

  dice, iou     of bool masks; two empty masks score 1
  noc           NoC@t on IoU (RITM, Sofiiuk et al. 2022; also f-BRS, SimpleClick): the
                number of clicks until IoU reaches t; a sequence that never reaches it
                counts as the number of clicks run (the cap). After a box start the box is
                a prompt, not a click: it counts 0, and the cap is the clicks after it
  failed        RITM's `over_max`: NoC@t equals the cap, so a sequence that reaches t
                only at its last click counts too (NoF@t counts these over a dataset)
  never         the strict count: IoU never reaches t
  MIOU_AT       the k of mIoU@k (IoU after click k, averaged over images by the report)
  dice_auc      area under the Dice-vs-click curve, normalised to [0, 1]
  boundary_distance  how far a click lies from the object's boundary (plausibility)

Pure array functions.
"""

import jax.numpy as jnp
import numpy as np

NOC_THRESHOLDS = (0.85, 0.90, 0.95)
MIOU_AT = (1, 3, 5, 10, 20)


def dice(pred: jnp.ndarray, gt: jnp.ndarray) -> jnp.ndarray:
    """The Dice coefficient.

    Args:
      pred: bool [..., H, W].
      gt: bool [..., H, W].

    Returns:
      float [...]; two empty masks score 1.
    """
    inter = jnp.sum(pred & gt, axis=(-2, -1))
    total = jnp.sum(pred, axis=(-2, -1)) + jnp.sum(gt, axis=(-2, -1))
    return jnp.where(total == 0, 1.0, 2.0 * inter / jnp.maximum(total, 1))


def iou(pred: jnp.ndarray, gt: jnp.ndarray) -> jnp.ndarray:
    """Intersection over union.

    Args:
      pred: bool [..., H, W].
      gt: bool [..., H, W].

    Returns:
      float [...]; two empty masks score 1.
    """
    inter = jnp.sum(pred & gt, axis=(-2, -1))
    union = jnp.sum(pred | gt, axis=(-2, -1))
    return jnp.where(union == 0, 1.0, inter / jnp.maximum(union, 1))


def overlap(pred: jnp.ndarray, gt: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """|pred ∩ gt| and |pred|, as one float32 matrix product: XLA then computes `pred`
    (e.g. thresholded upsampled logits) once, where two reductions would each fuse and
    recompute it. Exact below 2^24 pixels. Unbatched: `vmap` it.

    Args:
      pred: bool [H, W].
      gt: bool [H, W].

    Returns:
      (float [], float []): the intersection's and `pred`'s pixel counts.
    """
    weights = jnp.stack([gt.reshape(-1), jnp.ones(gt.size, bool)], axis=1).astype(jnp.float32)
    counts = jnp.dot(pred.reshape(-1).astype(jnp.float32), weights, precision="highest")
    return counts[0], counts[1]


def dice_iou(pred: jnp.ndarray, gt: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Dice and IoU through `overlap` (the one rule the study and the page score by).

    Args:
      pred: bool [H, W].
      gt: bool [H, W].

    Returns:
      (float [], float []): Dice and IoU; two empty masks score 1.
    """
    inter, size = overlap(pred, gt)
    total = size + jnp.sum(gt, dtype=jnp.float32)
    dice = jnp.where(total == 0, 1.0, 2.0 * inter / jnp.maximum(total, 1))
    iou = jnp.where(total == 0, 1.0, inter / jnp.maximum(total - inter, 1))
    return dice, iou


def noc(iou_per_step: np.ndarray, threshold: float, box_start: bool = False) -> int:
    """NoC@threshold: the clicks until IoU reaches `threshold`.

    Args:
      iou_per_step: float [S], the IoU after each step.
      threshold: e.g. 0.9.
      box_start: step 0 is a box (0 clicks; the cap is S − 1), not click 1.

    Returns:
      The clicks; the cap (the clicks run) if never reached.
    """
    reached = np.nonzero(np.asarray(iou_per_step) >= threshold)[0]
    first = 0 if box_start else 1  # Clicks made by step 0.
    return int(reached[0]) + first if reached.size else len(iou_per_step) - 1 + first


def failed(iou_per_step: np.ndarray, threshold: float, box_start: bool = False) -> bool:
    """RITM's failure (`over_max` of `isegm/inference/utils.py: compute_noc_metric`).

    Args:
      iou_per_step: float [S], the IoU after each step.
      threshold: e.g. 0.9.
      box_start: step 0 is a box, not a click.

    Returns:
      Whether NoC@threshold equals the cap (not reached before the last click).
    """
    cap = len(iou_per_step) - (1 if box_start else 0)
    return noc(iou_per_step, threshold, box_start) == cap


def never(iou_per_step: np.ndarray, threshold: float) -> bool:
    """The strict failure.

    Args:
      iou_per_step: float [S], the IoU after each step.
      threshold: e.g. 0.9.

    Returns:
      True when no step of the sequence reaches `threshold`.
    """
    return not bool(np.any(np.asarray(iou_per_step) >= threshold))


def dice_auc(dice_per_step: np.ndarray) -> float:
    """The area under the Dice-vs-click curve.

    Args:
      dice_per_step: float [S], the Dice after each step.

    Returns:
      The area by trapezoids over steps, normalised to [0, 1].
    """
    d = np.asarray(dice_per_step, np.float64)
    if d.size == 1:
        return float(d[0])
    return float(np.sum((d[1:] + d[:-1]) / 2) / (d.size - 1))


def boundary_distance(gt: jnp.ndarray, x, y) -> jnp.ndarray:
    """How far a click lies from the object's boundary (traceable).

    Args:
      gt: bool [H, W].
      x: the click's column (int []).
      y: the click's row (int []).

    Returns:
      float []: pixels from (x, y) to the nearest pixel outside `gt` for a click inside
      (the image border counting as outside, as the centre click's depth), or to the
      nearest pixel inside for a click outside.
    """
    h, w = gt.shape
    ys, xs = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij")
    inside = gt[y, x]
    squared = ((ys - y) ** 2 + (xs - x) ** 2).astype(jnp.float32)
    target = jnp.where(inside, ~gt, gt)
    nearest = jnp.sqrt(jnp.min(jnp.where(target, squared, jnp.inf)))
    border = jnp.minimum(jnp.minimum(x + 1, y + 1), jnp.minimum(w - x, h - y))
    return jnp.where(inside, jnp.minimum(nearest, border), nearest)
