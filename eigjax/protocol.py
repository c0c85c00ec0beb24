"""The click protocol: simulate an annotator clicking step by step, under one policy.

From the ground-truth "centre" (the pixel farthest from its boundary), each later click is
chosen by the policy and labelled by the ground truth:

  eig           the unclicked grid point of maximal EIG (Chung & Moyer, Eq. 5)
  oracle        every unclicked grid point tried as the next click (vmap, in chunks);
                the one whose proposed mask has the best Dice
  error_center  RITM: the deepest pixel of the larger error region
  random_error  SAM-Med2D: a random pixel of the error region
  random        a random unclicked grid point

Per step: Dice of the proposed mask (the multimask token with the best predicted IoU)
and of token 0 and of the mean-θ mask; max EIG over the unclicked grid before the click
(NaN at step 0: there is no prediction yet) and EIG at the clicked pixel. Per image:
NoC@80/85/90 and the Dice AUC.

The steps run in Python around two jitted functions whose shapes depend only on the image
size (clicks live in a fixed [max_clicks] array with a validity mask), so each compiles
once per image size, whatever the policy, step or number of steps.
"""

import dataclasses
import functools
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from eigjax import clicks as click_rules
from eigjax import eig as eig_lib
from eigjax import metrics
from eigjax.models.model import Embedding, Model, decode, to_image

Policy = Literal["eig", "oracle", "error_center", "random_error", "random"]
POLICIES: tuple[str, ...] = ("eig", "oracle", "error_center", "random_error", "random")
NOC_THRESHOLDS = (0.80, 0.85, 0.90)
NO_CLICK = -1  # Label of a step where the policy had nowhere to click (no error left).


@dataclasses.dataclass(frozen=True)
class Settings:
    """The protocol's knobs; defaults as agreed in DESIGN.md."""

    grid: int = 30  # Candidate clicks: centres of a grid x grid partition of the image.
    heads: Literal["multimask", "all"] = "multimask"  # θ_k: tokens 1-3, or all 4.
    eig: Literal["exact", "nmc"] = "exact"
    nmc_outer: int = 1024
    nmc_inner: int = 32
    feed_mask: bool = False  # Feed the previous proposed low-res mask back in.
    oracle_chunk: int = 8  # Oracle candidates evaluated at once (bounds memory).
    keep_maps: bool = False  # Keep the EIG map [H, W] before each click (for figures).
    max_clicks: int = 20  # Click-array capacity: runs of up to this many steps share a compile.

    @property
    def head_indexes(self) -> tuple[int, ...]:
        return (1, 2, 3) if self.heads == "multimask" else (0, 1, 2, 3)


@dataclasses.dataclass
class Record:
    """One image's click sequence under one policy (S steps)."""

    policy: str
    clicks: np.ndarray  # int [S, 3]: x, y, label (label -1: no click was possible)
    dice: np.ndarray  # float [S]: Dice of the proposed mask after each click
    dice_token0: np.ndarray  # float [S]
    dice_mean_theta: np.ndarray  # float [S]: mask mean_k θ_k > 0.5
    max_eig: np.ndarray  # float [S]: max EIG over unclicked grid before each click (nats)
    eig_at_click: np.ndarray  # float [S]: EIG at the clicked pixel before the click
    eig_maps: np.ndarray | None = None  # float [S, H, W] if Settings.keep_maps

    @property
    def noc(self) -> dict[str, int]:
        return {f"noc{round(t * 100)}": metrics.noc(self.dice, t) for t in NOC_THRESHOLDS}

    @property
    def dice_auc(self) -> float:
        return metrics.dice_auc(self.dice)

    def to_json(self) -> dict:
        """JSON-ready: lists, NaN as None."""

        def clean(a):
            return [None if isinstance(v, float) and np.isnan(v) else v for v in a.tolist()]

        return {
            "policy": self.policy,
            "clicks": self.clicks.tolist(),
            "dice": clean(self.dice),
            "dice_token0": clean(self.dice_token0),
            "dice_mean_theta": clean(self.dice_mean_theta),
            "max_eig": clean(self.max_eig),
            "eig_at_click": clean(self.eig_at_click),
            **self.noc,
            "dice_auc": self.dice_auc,
        }


def _proposed_token(iou: jax.Array) -> jax.Array:
    """The multimask token (1-3) with the best predicted IoU."""
    return 1 + jnp.argmax(iou[1:4])


@functools.partial(jax.jit, static_argnames=("network", "settings"))
def _assess(network, params, emb, points, labels, valid, mask_in, mask_valid, gt, key, settings):
    """Prediction after the given clicks: Dice under each mask rule and the EIG map."""
    low_res, iou = decode(network, params, emb, points, labels, None, mask_in, valid, mask_valid)
    logits = to_image(low_res, emb.original_size, network.config)  # [4, H, W]
    probs = jax.nn.sigmoid(logits[jnp.array(settings.head_indexes)])
    best = _proposed_token(iou)
    pred = logits[best] > 0
    if settings.eig == "exact":
        eig_map = eig_lib.eig_exact(probs)
    else:
        eig_map = eig_lib.eig_nmc(key, probs, settings.nmc_outer, settings.nmc_inner)
    return {
        "pred": pred,
        "low_res": low_res[best],
        "dice": metrics.dice(pred, gt),
        "dice_token0": metrics.dice(logits[0] > 0, gt),
        "dice_mean_theta": metrics.dice(jnp.mean(probs, axis=0) > 0.5, gt),
        "eig_map": eig_map,
    }


@functools.partial(jax.jit, static_argnames=("network", "chunk"))
def oracle_dice(
    network, params, emb, points, labels, valid, slot, mask_in, mask_valid, gt, candidates, chunk
):
    """Dice [G] of the proposed mask after adding each candidate click in `slot`.

    Candidates [G, 2] (x, y) are labelled by `gt`; evaluated `chunk` at a time with
    `vmap` (the image embedding is shared, not copied), so memory is O(chunk · H · W).
    """
    cand_labels = gt[candidates[:, 1], candidates[:, 0]].astype(jnp.int32)

    def one(args):
        xy, label = args
        p = points.at[slot].set(xy.astype(jnp.float32))
        lab = labels.at[slot].set(label)
        v = valid.at[slot].set(True)
        low_res, iou = decode(network, params, emb, p, lab, None, mask_in, v, mask_valid)
        full = to_image(low_res[_proposed_token(iou)], emb.original_size, network.config)
        return metrics.dice(full > 0, gt)

    return jax.lax.map(one, (candidates, cand_labels), batch_size=chunk)


def run(
    model: Model,
    image: np.ndarray,
    mask: np.ndarray,
    policy: Policy,
    steps: int = 10,
    seed: int = 0,
    settings: Settings = Settings(),
    embedding: Embedding | None = None,
) -> Record:
    """Runs `steps` clicks of `policy` on one image.

    Args:
      model: a loaded `eigjax.models.Model`.
      image: uint8 [H, W, 3] (or [H, W]).
      mask: bool [H, W] ground truth, not empty.
      policy: one of POLICIES.
      steps: number of clicks S (the first is the ground-truth centre).
      seed: seeds the random policies and the NMC estimator.
      settings: grid, heads, EIG estimator, mask feedback, Oracle chunk.
      embedding: `model.embed(image)` if already computed.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {POLICIES}")
    gt = np.asarray(mask).astype(bool)
    if gt.shape != np.asarray(image).shape[:2]:
        raise ValueError(f"mask {gt.shape} and image {np.asarray(image).shape[:2]} differ in size")
    emb = model.embed(image) if embedding is None else embedding
    h, w = gt.shape
    grid = click_rules.grid_points(h, w, settings.grid)
    gt_dev = jnp.asarray(gt)
    rng = np.random.default_rng(seed)
    key = jax.random.key(seed)

    capacity = max(settings.max_clicks, steps)
    points = np.zeros((capacity, 2), np.float32)
    labels = np.zeros(capacity, np.int32)
    valid = np.zeros(capacity, bool)
    clicked = np.zeros(len(grid), bool)
    r = model.config.low_res_size
    mask_in, mask_valid = jnp.zeros((r, r)), False

    out = {
        k: np.full(steps, np.nan)
        for k in ("dice", "dice_token0", "dice_mean_theta", "max_eig", "eig_at_click")
    }
    record_clicks = np.full((steps, 3), NO_CLICK, np.int64)
    maps = np.full((steps, h, w), np.nan, np.float32) if settings.keep_maps else None
    state = None
    for s in range(steps):
        click, grid_index = _choose(
            policy,
            s,
            state,
            gt,
            grid,
            clicked,
            rng,
            model,
            emb,
            points,
            labels,
            valid,
            mask_in,
            mask_valid,
            gt_dev,
            settings,
        )
        if state is not None:
            eig_map = np.asarray(state["eig_map"])
            out["max_eig"][s] = float(np.max(eig_map[grid[~clicked, 1], grid[~clicked, 0]]))
            if maps is not None:
                maps[s] = eig_map
        if click is None:  # Nothing left to correct: the state carries over.
            for k in ("dice", "dice_token0", "dice_mean_theta"):
                out[k][s] = out[k][s - 1]
            continue
        x, y, label = click
        if state is not None:
            out["eig_at_click"][s] = float(eig_map[y, x])
        record_clicks[s] = (x, y, label)
        points[s], labels[s], valid[s] = (x, y), label, True
        if grid_index is not None:
            clicked[grid_index] = True
        key, sub = jax.random.split(key)
        state = _assess(
            model.network,
            model.params,
            emb,
            points,
            labels,
            valid,
            mask_in,
            mask_valid,
            gt_dev,
            sub,
            settings,
        )
        for k in ("dice", "dice_token0", "dice_mean_theta"):
            out[k][s] = float(state[k])
        if settings.feed_mask:
            mask_in, mask_valid = state["low_res"], True
    return Record(policy=policy, clicks=record_clicks, eig_maps=maps, **out)


def _choose(
    policy,
    s,
    state,
    gt,
    grid,
    clicked,
    rng,
    model,
    emb,
    points,
    labels,
    valid,
    mask_in,
    mask_valid,
    gt_dev,
    settings,
):
    """The next click (x, y, label) or None, and its grid index (None if off the grid)."""
    if s == 0:
        x, y = click_rules.first_click(gt)
        return (x, y, 1), None
    pred = np.asarray(state["pred"])
    if policy == "error_center":
        return click_rules.error_center(pred, gt), None
    if policy == "random_error":
        return click_rules.random_error(pred, gt, rng), None
    if policy == "eig":
        eig_map = np.asarray(state["eig_map"])
        i = click_rules.argmax_unclicked(eig_map[grid[:, 1], grid[:, 0]], clicked)
    elif policy == "oracle":
        dice = oracle_dice(
            model.network,
            model.params,
            emb,
            points,
            labels,
            valid,
            s,
            mask_in,
            mask_valid,
            gt_dev,
            jnp.asarray(grid),
            settings.oracle_chunk,
        )
        i = click_rules.argmax_unclicked(np.asarray(dice), clicked)
    else:
        i = click_rules.random_unclicked(clicked, rng)
    x, y = (int(v) for v in grid[i])
    return (x, y, int(gt[y, x])), i
