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
from eigjax.models import transforms
from eigjax.models.model import Embedding, Model, decode, encode, to_image

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


def _assess_one(
    network, params, emb, points, labels, valid, mask_in, mask_valid, gt, key, settings
):
    """One image's prediction after its clicks: Dice under each mask rule and the EIG map."""
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


@functools.partial(jax.jit, static_argnames=("network", "settings"))
def _assess(network, params, emb, points, labels, valid, mask_in, mask_valid, gt, keys, settings):
    """`_assess_one` over a batch of images [B, ...] (embeddings, clicks, masks, keys)."""

    def one(e, p, lab, v, m, mv, g, k):
        return _assess_one(network, params, e, p, lab, v, m, mv, g, k, settings)

    return jax.vmap(one)(emb, points, labels, valid, mask_in, mask_valid, gt, keys)


def _oracle_one(
    network, params, emb, points, labels, valid, mask_in, mask_valid, gt, slot, candidates, chunk
):
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


@functools.partial(jax.jit, static_argnames=("network", "chunk"))
def oracle_dice(
    network, params, emb, points, labels, valid, mask_in, mask_valid, gt, slot, candidates, chunk
):
    """Dice [B, G] of each image's proposed mask after adding each candidate click in `slot`.

    Batched over images (leading axis of emb, points, labels, valid, mask_in, mask_valid,
    gt); candidates [G, 2] (x, y) are shared and labelled by each image's `gt`. They are
    evaluated `chunk` at a time with `vmap` (the embedding is shared, not copied), so
    memory is O(B · chunk · H · W).
    """

    def one(e, p, lab, v, m, mv, g):
        return _oracle_one(network, params, e, p, lab, v, m, mv, g, slot, candidates, chunk)

    return jax.vmap(one)(emb, points, labels, valid, mask_in, mask_valid, gt)


def embed_batch(model: Model, images: list[np.ndarray], mesh=None) -> Embedding:
    """Embeddings of equal-size images, batched [B', h, w, C] and sharded over `mesh`.

    B' is len(images) rounded up to a multiple of the mesh's devices; the extra rows
    repeat the last image.
    """
    images = _pad_batch(list(images), mesh)
    x = np.stack([transforms.preprocess(im, model.config) for im in images])
    features = encode(model.network, model.params, _put(x, mesh))
    return Embedding(features=features, original_size=tuple(np.asarray(images[0]).shape[:2]))


def _pad_batch(items: list, mesh) -> list:
    """`items` + copies of its last, to a multiple of the mesh's devices."""
    return items + [items[-1]] * ((-len(items)) % (mesh.size if mesh is not None else 1))


def _put(x, mesh):
    """Host array → device, its leading (batch) axis split over `mesh`'s devices."""
    if mesh is None:
        return jnp.asarray(x)
    spec = jax.sharding.PartitionSpec("batch", *([None] * (np.ndim(x) - 1)))
    return jax.device_put(x, jax.sharding.NamedSharding(mesh, spec))


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
    batched = None
    if embedding is not None:
        batched = Embedding(
            features=embedding.features[None], original_size=embedding.original_size
        )
    return run_batch(model, [image], [mask], policy, steps, [seed], settings, embeddings=batched)[0]


def run_batch(
    model: Model,
    images: list[np.ndarray],
    masks: list[np.ndarray],
    policy: Policy,
    steps: int = 10,
    seeds: list[int] | None = None,
    settings: Settings = Settings(),
    mesh: jax.sharding.Mesh | None = None,
    embeddings: Embedding | None = None,
) -> list[Record]:
    """`run` for B images of one size in lockstep: every step is one batched computation.

    With `mesh` (one axis, "batch"), the batch is padded to a multiple of its devices and
    split over them. Each image's record is that of a run alone: bit for bit with one
    image per device; with several per device, batched kernels may round differently (a
    pixel may flip a Dice in the 4th decimal).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose from {POLICIES}")
    gts = [np.asarray(m).astype(bool) for m in masks]
    for image, gt in zip(images, gts):
        if gt.shape != np.asarray(image).shape[:2]:
            raise ValueError(
                f"mask {gt.shape} and image {np.asarray(image).shape[:2]} differ in size"
            )
    if len({gt.shape for gt in gts}) != 1:
        raise ValueError(
            f"a lockstep batch needs one image size, got {sorted({g.shape for g in gts})}"
        )
    for gt in gts:
        if not gt.any():
            raise ValueError("the ground-truth mask is empty")
    n = len(gts)
    seeds = list(range(n)) if seeds is None else list(seeds)
    # Padding rows (copies of the last image) are computed and dropped.
    images, gts, seeds = (_pad_batch(list(x), mesh) for x in (images, gts, seeds))
    b = len(gts)
    if embeddings is None or embeddings.features.shape[0] != b:
        embeddings = embed_batch(model, images, mesh)
    h, w = gts[0].shape
    grid = click_rules.grid_points(h, w, settings.grid)
    gt_dev = _put(np.stack(gts), mesh)
    rngs = [np.random.default_rng(s) for s in seeds]
    keys = [jax.random.key(s) for s in seeds]

    capacity = max(settings.max_clicks, steps)
    points = np.zeros((b, capacity, 2), np.float32)
    labels = np.zeros((b, capacity), np.int32)
    valid = np.zeros((b, capacity), bool)
    clicked = np.zeros((b, len(grid)), bool)
    r = model.config.low_res_size
    mask_in, mask_valid = np.zeros((b, r, r), np.float32), np.zeros(b, bool)

    def on_device():  # The click state, batch axis over the mesh.
        return [_put(a, mesh) for a in (points, labels, valid, mask_in, mask_valid)]

    fields = ("dice", "dice_token0", "dice_mean_theta", "max_eig", "eig_at_click")
    out = {k: np.full((b, steps), np.nan) for k in fields}
    record_clicks = np.full((b, steps, 3), NO_CLICK, np.int64)
    maps = np.full((b, steps, h, w), np.nan, np.float32) if settings.keep_maps else None
    state = None  # Host copies of the last assessment, [B, ...] per field.
    for s in range(steps):
        oracle = None
        if policy == "oracle" and s > 0:
            oracle = np.asarray(
                oracle_dice(
                    model.network,
                    model.params,
                    embeddings,
                    *on_device(),
                    gt_dev,
                    s,
                    jnp.asarray(grid),
                    settings.oracle_chunk,
                )
            )
        moved = np.zeros(b, bool)
        for i in range(b):
            click, grid_index = _choose(
                policy,
                s,
                None if state is None else {k: v[i] for k, v in state.items()},
                gts[i],
                grid,
                clicked[i],
                rngs[i],
                None if oracle is None else oracle[i],
            )
            if state is not None:
                eig_map = state["eig_map"][i]
                free = ~clicked[i]
                out["max_eig"][i, s] = float(np.max(eig_map[grid[free, 1], grid[free, 0]]))
                if maps is not None:
                    maps[i, s] = eig_map
            if click is None:  # Nothing left to correct: the state carries over.
                for k in ("dice", "dice_token0", "dice_mean_theta"):
                    out[k][i, s] = out[k][i, s - 1]
                continue
            x, y, label = click
            if state is not None:
                out["eig_at_click"][i, s] = float(state["eig_map"][i][y, x])
            record_clicks[i, s] = (x, y, label)
            points[i, s], labels[i, s], valid[i, s] = (x, y), label, True
            if grid_index is not None:
                clicked[i, grid_index] = True
            moved[i] = True
        subkeys = []
        for i in range(b):
            keys[i], sub = jax.random.split(keys[i])
            subkeys.append(sub)
        new = _assess(
            model.network,
            model.params,
            embeddings,
            *on_device(),
            gt_dev,
            jnp.stack(subkeys),
            settings,
        )
        new = {k: np.asarray(v) for k, v in new.items()}
        state = (
            new
            if state is None
            else {k: np.where(_rows(moved, v), v, state[k]) for k, v in new.items()}
        )
        for k in ("dice", "dice_token0", "dice_mean_theta"):
            out[k][moved, s] = state[k][moved]
        if settings.feed_mask:
            mask_in, mask_valid = state["low_res"].copy(), mask_valid | moved
    return [
        Record(
            policy=policy,
            clicks=record_clicks[i],
            eig_maps=None if maps is None else maps[i],
            **{k: out[k][i] for k in fields},
        )
        for i in range(n)
    ]


def _rows(selected: np.ndarray, like: np.ndarray) -> np.ndarray:
    """bool [B] broadcast against [B, ...]."""
    return selected.reshape((-1,) + (1,) * (like.ndim - 1))


def _choose(policy, s, state, gt, grid, clicked, rng, oracle_scores):
    """The next click (x, y, label) or None, and its grid index (None if off the grid)."""
    if s == 0:
        x, y = click_rules.first_click(gt)
        return (x, y, 1), None
    if policy == "error_center":
        return click_rules.error_center(state["pred"], gt), None
    if policy == "random_error":
        return click_rules.random_error(state["pred"], gt, rng), None
    if policy == "eig":
        eig_map = state["eig_map"]
        i = click_rules.argmax_unclicked(eig_map[grid[:, 1], grid[:, 0]], clicked)
    elif policy == "oracle":
        i = click_rules.argmax_unclicked(oracle_scores, clicked)
    else:
        i = click_rules.random_unclicked(clicked, rng)
    x, y = (int(v) for v in grid[i])
    return (x, y, int(gt[y, x])), i
