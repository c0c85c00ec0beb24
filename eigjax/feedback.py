"""What an annotator is shown after each prompt: the proposed mask, every token's predicted
IoU, the EIG map and the click it suggests next, and, where a ground truth is known, Dice,
IoU and the Oracle's next click. Pure and jitted, for one image; `experiments/web/api.py`
serves them to the web page.

  prompt_of      user clicks [N, 3] (x, y, label) and a box → a validated `Prompt` with
                 room for N + 1 clicks, in slots of CAPACITY_STEP (few compiles; empty
                 slots are masked tokens, cheap for one prediction)
  feedback       the `Feedback` of a prompt: mask, IoUs, EIG map, suggested grid click
  oracle_click   the protocol's Oracle step from the user's prompt (`protocol.oracle_click`)
  oracle_dice    its candidates' Dice, a part at a time, and oracle_choice, its click from
                 them: the same step, for a caller that counts and stops between parts

The suggestion is the EIG-guided policy's click (`protocol.policies`, Chung & Moyer,
Eq. 5): the unclicked grid point of maximal EIG. A grid point counts as clicked when a
click lies on its pixel.
"""

import functools

import flax.struct
import jax
import numpy as np

from eigjax import assess as assess_lib
from eigjax import protocol
from eigjax.assess import Problem
from eigjax.models.prompt import Prompt

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
    object_score: jax.Array  # float []: SAM 3's object-score logit (NaN: no such head)


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


@functools.partial(jax.jit, static_argnames=("settings",))
def feedback(problem: Problem, prompt: Prompt, clicked: jax.Array, *, settings) -> Feedback:
    """The `Feedback` of `prompt` (original pixels); `clicked` bool [G] marks the taken
    points of the settings' grid; `problem.gt` bool [H, W] scores the mask (all False when
    none is known). `settings` (a `protocol.Settings`): grid, mask rule, EIG heads and
    estimator."""
    a = assess_lib.assess(problem, prompt, jax.random.key(0), settings)
    grid = protocol.grid_points(problem.gt, settings)
    best = protocol.policies.EIG_GUIDED.choose(a, clicked, grid, None)
    return Feedback(
        mask=a.pred,
        token=a.token,
        predicted_iou=a.predicted_iou,
        eig_map=a.eig_map,
        eig_max=a.eig_map[grid[best, 1], grid[best, 0]],
        suggestion=best,
        dice=a.dice,
        iou=a.iou,
        object_score=a.object_score,
    )


# The protocol's Oracle step from a user's prompt: pass `ClickState(prompt truncated to
# slot + 1 slots, clicked)`, the slot, capacity=slot + 1 and the settings (chunk ≥ 1).
oracle_click = jax.jit(protocol.oracle_click, static_argnames=("capacity", "settings"))
oracle_dice = jax.jit(protocol.oracle_dice, static_argnames=("capacity", "settings", "size"))
oracle_choice = jax.jit(protocol.oracle_choice, static_argnames=("settings",))
