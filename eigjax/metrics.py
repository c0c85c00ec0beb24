"""Segmentation metrics of a click sequence: Dice, NoC@t, Dice AUC. Pure array functions."""

import jax.numpy as jnp
import numpy as np

NOC_CAP = 20  # NoC counts at most this many clicks (the usual interactive-segmentation cap).


def dice(pred: jnp.ndarray, gt: jnp.ndarray) -> jnp.ndarray:
    """Dice of bool masks [..., H, W] → [...]; two empty masks score 1."""
    inter = jnp.sum(pred & gt, axis=(-2, -1))
    total = jnp.sum(pred, axis=(-2, -1)) + jnp.sum(gt, axis=(-2, -1))
    return jnp.where(total == 0, 1.0, 2.0 * inter / jnp.maximum(total, 1))


def noc(dice_per_step: np.ndarray, threshold: float, cap: int = NOC_CAP) -> int:
    """Number of clicks until Dice ≥ threshold ([S] Dice after clicks 1..S); `cap` if never."""
    reached = np.nonzero(np.asarray(dice_per_step[:cap]) >= threshold)[0]
    return int(reached[0]) + 1 if reached.size else cap


def dice_auc(dice_per_step: np.ndarray) -> float:
    """Area under the Dice-vs-click curve, normalised to [0, 1] (trapezoids over steps)."""
    d = np.asarray(dice_per_step, np.float64)
    if d.size == 1:
        return float(d[0])
    return float(np.sum((d[1:] + d[:-1]) / 2) / (d.size - 1))
