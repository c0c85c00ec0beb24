"""What an annotator is shown after each prompt: the proposed mask, every token's predicted
IoU, the EIG map and the click it suggests next, and, where a ground truth is known, Dice,
IoU and the Oracle's next click. Pure and jitted, for one image; `experiments/serve.py`
puts them on a web page.

  prompt_of      user clicks [N, 3] (x, y, label) and a box → a validated `Prompt` with
                 room for N + 1 clicks, in slots of CAPACITY_STEP (few compiles; empty
                 slots are masked tokens, cheap for one prediction)
  feedback       the `Feedback` of a prompt: mask, IoUs, EIG map, suggested grid click
  oracle_click   the unclicked grid point whose click gives the best Dice (Oracle policy)

The suggestion is the protocol's EIG-guided click (Chung & Moyer, Eq. 5): the unclicked
grid point of maximal EIG. A grid point counts as clicked when a click lies on its pixel.
"""

import functools

import flax.struct
import jax
import numpy as np

from eigjax import assess as assess_lib
from eigjax.models.model import Embedding
from eigjax.models.prompt import Prompt
from eigjax.models.sam import Sam

CAPACITY_STEP = 16  # Click slots come in multiples of this: one compile per 16 clicks.


@flax.struct.dataclass
class Feedback:
    """One prediction as shown to a person (H, W: the image size; G: grid points)."""

    mask: jax.Array  # bool [H, W]: the proposed mask
    token: jax.Array  # int []: its mask token
    predicted_iou: jax.Array  # float [M]: the model's IoU estimate per token
    eig_map: jax.Array  # float [H, W]: EIG of observing each pixel next (nats)
    eig_max: jax.Array  # float []: max EIG over the unclicked grid
    suggestion: jax.Array  # int []: index in the grid of that maximum
    dice: jax.Array  # float []: Dice of the mask against the ground truth given
    iou: jax.Array  # float []: IoU likewise


def prompt_of(clicks: np.ndarray, box: np.ndarray | None) -> Prompt:
    """Clicks float [N, 3] (x, y, label in {0, 1}) and a box [4] or None → a `Prompt` with
    ⌈(N + 1) / CAPACITY_STEP⌉ · CAPACITY_STEP slots, the free ones empty.

    Raises:
      ValueError naming the argument (`Prompt.create`), or "clicks" when a label is not
      0 or 1 (a click is either positive or negative).
    """
    clicks = np.asarray(clicks, np.float64).reshape(-1, 3)
    if not np.isin(clicks[:, 2], (0, 1)).all():
        raise ValueError("clicks: labels must be 1 (positive) or 0 (negative)")
    n = len(clicks)
    capacity = CAPACITY_STEP * (n // CAPACITY_STEP + 1)  # At least one free slot (Oracle).
    points = np.zeros((capacity, 2), np.float32)
    labels = np.zeros(capacity, np.int32)
    valid = np.zeros(capacity, bool)
    points[:n], labels[:n], valid[:n] = clicks[:, :2], clicks[:, 2], True
    return Prompt.create(points, labels, box, valid=valid)


def clicked_on_grid(grid: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """bool [G]: grid points int [G, 2] (x, y) that a click [N, 3] lies on (its pixel)."""
    xy = np.floor(np.asarray(clicks, np.float64).reshape(-1, 3)[:, :2]).astype(np.int64)
    return (grid[:, None, :] == xy[None, :, :]).all(-1).any(1)


@functools.partial(jax.jit, static_argnames=("network", "settings"))
def feedback(
    params: dict,
    embedding: Embedding,
    prompt: Prompt,
    clicked: jax.Array,
    gt: jax.Array,
    grid: jax.Array,
    *,
    network: Sam,
    settings,
) -> Feedback:
    """The `Feedback` of `prompt` (original pixels); `clicked` bool [G] marks the taken
    points of `grid` int [G, 2]; `gt` bool [H, W] scores the mask (all False when none is
    known). `settings` (a `protocol.Settings`): mask rule, EIG heads and estimator."""
    a = assess_lib.assess(network, params, embedding, prompt, gt, jax.random.key(0), settings)
    best, eig_max = assess_lib.best_unclicked(a.eig_map[grid[:, 1], grid[:, 0]], clicked)
    return Feedback(
        mask=a.pred,
        token=a.token,
        predicted_iou=a.predicted_iou,
        eig_map=a.eig_map,
        eig_max=eig_max,
        suggestion=best,
        dice=a.dice,
        iou=a.iou,
    )


@functools.partial(jax.jit, static_argnames=("network", "settings"))
def oracle_click(
    params: dict,
    embedding: Embedding,
    prompt: Prompt,
    slot: jax.Array,
    clicked: jax.Array,
    gt: jax.Array,
    grid: jax.Array,
    *,
    network: Sam,
    settings,
) -> tuple[jax.Array, jax.Array]:
    """(grid index, its Dice): every unclicked grid point tried as click `slot` (a free
    slot of `prompt`), labelled by `gt`, the best Dice of the proposed mask kept.
    `settings.oracle_chunk` candidates at a time (≥ 1). Pass a prompt of slot + 1 slots
    (`Prompt.truncated`): every empty slot costs a masked token in each candidate."""
    chunk, rule = settings.oracle_chunk, settings.mask_rule
    return assess_lib.oracle_choice(
        network, params, embedding, prompt, gt, slot, grid, clicked, chunk, rule
    )
