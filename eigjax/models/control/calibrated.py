"""The calibrated control: a positive control of the instrument, not a segmenter.

Its K = 2^F mask heads are explicit hypotheses about the object, built from the image's
ground truth: the mask with each of F edits applied or not, on disjoint regions that each
hold a grid point (`edit_regions`):
  dilation   a ring around the mask (the mask dilated by about one grid spacing);
  neighbour  a disc beside the dilated mask (the mask joined with a neighbour);
  part       the mask's far end along its longest direction from the centre click (the
             mask less a part), or, where the mask holds no grid point besides its
             centre, a second neighbour on the other side;
  neighbour  (F = 4) another disc, across from the first.
A click updates the heads by exact Bayesian conditioning with label noise ε: after clicks
(d_i, y_i), π_k ∝ π0_k Π_i [(1 − ε) if h_k(d_i) = y_i else ε]. Head k's probability map is
θ_k = ε + (1 − 2ε) h_k, its weight π_k (`eig.eig_exact`'s weights). Every grid point of a
region splits the heads in half, so EIG-guided clicks find the true hypothesis in F =
log₂ K clicks after the start (the centre click, outside every region, tells nothing),
where random grid clicks must first land in each region.

Presented through a network's interface (`Sam`'s): token 0 is the posterior's predictive
map Σ π_k θ_k, tokens 1..K the hypotheses; the predicted IoU of a token is its expected
IoU under the posterior (a calibrated IoU head); its heads' weights are [0, π]. The box and
the mask input are ignored: the control conditions on clicks only. Hypotheses live in the
r × r frame of `image_size` (the image stretched; exact for images of that size, as the
bundled samples, nearest-sampled otherwise), in the order of a permutation seeded by the
mask, so that the truth is no particular token.
"""

import dataclasses
import zlib
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from eigjax import clicks as click_rules


@dataclasses.dataclass(frozen=True)
class ControlConfig:
    """The control's constants (its "encoder": the hypotheses are its embedding).

    prior: "uniform" (calibrated), or "overconfident" (a stated miscalibration: weight
      `overconfidence` on the hypothesis with every edit applied, the one farthest from the
      truth, the rest shared evenly).
    """

    factors: int = 3  # F edits: K = 2^F hypotheses.
    label_noise: float = 0.01  # ε: the annotator's label flips, as the control models them.
    prior: Literal["uniform", "overconfident"] = "uniform"
    overconfidence: float = 0.98
    grid: int = 30  # The grid whose points every edit region must hold (the paper's).
    patch_size: int = 4  # So that the low-res frame is image_size × image_size.

    @property
    def num_hypotheses(self) -> int:
        return 2**self.factors


def _disc(shape, cx: float, cy: float, radius: float) -> np.ndarray:
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2


def _has_grid_point(region: np.ndarray, grid: np.ndarray) -> bool:
    return bool(region[grid[:, 1], grid[:, 0]].any())


def _neighbour(gt, dilated, taken, grid, centre, directions: list, spacing) -> np.ndarray:
    """A disc outside `dilated` and `taken`, of radius max(1.5 grid spacings, half the
    mask's radius), beside the mask: from `centre` along the first of `directions` (unit
    (dx, dy); it is removed from the list) where, moved outwards from the dilated mask, it
    holds a grid point before it leaves the image. Empty where none does."""
    radius = max(1.5 * spacing, 0.5 * np.sqrt(gt.sum() / np.pi))
    cx, cy = centre
    free = ~dilated & ~taken
    for direction in list(directions):
        for step in range(2 * max(gt.shape)):
            x, y = cx + direction[0] * step, cy + direction[1] * step
            if not (0 <= x < gt.shape[1] and 0 <= y < gt.shape[0]):
                break
            if dilated[int(y), int(x)]:
                continue
            dx, dy = direction[0] * radius, direction[1] * radius
            region = _disc(gt.shape, x + dx, y + dy, radius) & free
            if _has_grid_point(region, grid):
                directions.remove(direction)
                return region
    return np.zeros_like(gt)


def edit_regions(gt: np.ndarray, factors: int, grid_n: int = 30) -> list[np.ndarray]:
    """F disjoint bool [H, W] regions, each holding at least one point of the grid_n grid
    and none holding the centre click (`clicks.first_click`): the dilation ring, a
    neighbour, a part of the mask (or a second neighbour), and for F = 4 a third.

    Raises ValueError when the image has no room for a region with a grid point (a mask
    that fills it).
    """
    if not 1 <= factors <= 4:
        raise ValueError(f"the control takes 1 to 4 edits, got {factors}")
    gt = np.asarray(gt, bool)
    grid = click_rules.grid_points(*gt.shape, grid_n)
    cx, cy = click_rules.first_click(gt)
    spacing = max(gt.shape) / grid_n
    outside = ndimage.distance_transform_edt(~gt)
    ring = np.zeros_like(gt)
    for radius in spacing * np.arange(1, 5):  # Wide enough to hold a grid point.
        ring = ~gt & (outside <= radius)
        if _has_grid_point(ring, grid):
            break
    dilated = gt | ring
    ys, xs = np.nonzero(gt)
    # The direction of the mask's longest reach from the centre: the part lies there, the
    # first neighbour opposite, so that the two stay apart.
    reach = {(1, 0): xs.max() - cx, (-1, 0): cx - xs.min(), (0, 1): ys.max() - cy}
    reach[(0, -1)] = cy - ys.min()
    far = max(reach, key=reach.get)
    ys_all, xs_all = np.mgrid[: gt.shape[0], : gt.shape[1]]
    along = (xs_all - cx) * far[0] + (ys_all - cy) * far[1]
    part = gt & (along > reach[far] / 2)
    # Neighbours go opposite the part first, then across, then beyond it.
    directions = [(-far[0], -far[1]), (-far[1], far[0]), (far[1], -far[0]), far]
    regions, taken = [ring], ring.copy()
    for i in range(1, factors):
        if i == 2 and _has_grid_point(part, grid):
            region = part
        else:
            region = _neighbour(gt, dilated, taken, grid, (cx, cy), directions, spacing)
        regions.append(region)
        taken |= region
    for i, region in enumerate(regions):
        if not _has_grid_point(region, grid):
            raise ValueError(
                f"the control cannot place edit {i + 1} of {factors} with a grid point on "
                f"this {gt.shape[1]}x{gt.shape[0]} mask"
            )
    return regions


def hypotheses(gt: np.ndarray, config: ControlConfig) -> np.ndarray:
    """bool [K, H, W]: hypothesis b (bits b_i, i < F) is the mask with region i added (the
    dilation ring, the neighbours) or removed (the part) where b_i = 1; hypothesis 0 is
    the ground truth. Unpermuted (`encoder_input` shuffles)."""
    gt = np.asarray(gt, bool)
    regions = edit_regions(gt, config.factors, config.grid)
    out = np.repeat(gt[None], config.num_hypotheses, axis=0)
    for k in range(config.num_hypotheses):
        for i, region in enumerate(regions):
            if k >> i & 1:
                out[k] = out[k] & ~region if gt[region].any() else out[k] | region
    return out


def order(gt: np.ndarray, k: int) -> np.ndarray:
    """int [K]: the permutation of the hypotheses for this mask (seeded by its pixels)."""
    seed = zlib.crc32(np.packbits(np.asarray(gt, bool)).tobytes())
    return np.random.default_rng(seed).permutation(k)


def prior_log_weights(config: ControlConfig) -> np.ndarray:
    """float [K]: log π0 over the unpermuted hypotheses."""
    k = config.num_hypotheses
    if config.prior == "uniform":
        return np.full(k, -np.log(k), np.float32)
    w = np.full(k, (1 - config.overconfidence) / (k - 1))
    w[k - 1] = config.overconfidence  # Every edit applied: the farthest from the truth.
    return np.log(w).astype(np.float32)


def encoder_input(gt: np.ndarray, size: int, config: ControlConfig) -> np.ndarray:
    """float32 [size, size, K + 1]: the permuted hypotheses in the size × size frame
    (nearest-sampled: row i is the mask's row ⌊i · H / size⌋) and, in the last channel's
    first K pixels of row 0, their log prior weights."""
    h = hypotheses(gt, config)
    perm = order(gt, len(h))
    rows = np.floor(np.arange(size) * gt.shape[0] / size).astype(np.int64)
    cols = np.floor(np.arange(size) * gt.shape[1] / size).astype(np.int64)
    frame = h[perm][:, rows][:, :, cols].transpose(1, 2, 0).astype(np.float32)
    prior = np.zeros((size, size, 1), np.float32)
    prior[0, : len(h), 0] = prior_log_weights(config)[perm]
    return np.concatenate([frame, prior], axis=-1)


class CalibratedControl(nn.Module):
    """The control as a network: `encode` passes its hypotheses through; `decode_heads`
    conditions them on a prompt's clicks. No parameters."""

    config: object  # models.configs.ModelConfig with a ControlConfig encoder.

    def encode(self, images: jax.Array) -> tuple[jax.Array, None]:
        """[B, r, r, K + 1] (`encoder_input`) → the same, and no high-res features."""
        return images, None

    def decode_heads(self, embedding: jax.Array, prompt, high_res=None):
        """One prompt's heads: logits [K + 1, r, r], predicted IoU [K + 1] and head
        weights [K + 1] (token 0: the predictive map, weight 0; tokens 1..K: the posterior).

        `prompt` is in the frame's pixels (`Prompt.scaled`); a click at (x, y) reads the
        hypotheses at row ⌊y⌋, column ⌊x⌋. Labels other than 0 and 1 (padding, box corners)
        and invalid slots tell nothing.
        """
        del high_res
        eps = self.config.encoder.label_noise
        hyp, log_prior = embedding[..., :-1], embedding[0, : embedding.shape[-1] - 1, -1]
        r = hyp.shape[0]
        xy = jnp.clip(jnp.floor(prompt.points).astype(jnp.int32), 0, r - 1)
        seen = hyp[xy[:, 1], xy[:, 0]]  # [C, K]: each hypothesis's label at each click.
        label = prompt.labels[:, None]
        counts = (prompt.valid & ((prompt.labels == 0) | (prompt.labels == 1)))[:, None]
        agree = jnp.where(seen == label, jnp.log1p(-eps), jnp.log(eps))
        log_post = log_prior + jnp.sum(jnp.where(counts, agree, 0.0), axis=0)
        post = jax.nn.softmax(log_post)
        theta = eps + (1 - 2 * eps) * hyp.transpose(2, 0, 1)  # [K, r, r]
        predictive = jnp.tensordot(post, theta, axes=1)
        probs = jnp.concatenate([predictive[None], theta])
        logits = jnp.log(probs) - jnp.log1p(-probs)
        masks = jnp.concatenate([(predictive > 0.5)[None], hyp.transpose(2, 0, 1) > 0.5])
        flat_m, flat_h = masks.reshape(len(masks), -1), hyp.reshape(-1, hyp.shape[-1]) > 0.5
        inter = jnp.dot(flat_m.astype(jnp.float32), flat_h.astype(jnp.float32))  # [K+1, K]
        union = jnp.sum(flat_m, 1)[:, None] + jnp.sum(flat_h, 0)[None, :] - inter
        iou = jnp.where(union > 0, inter / jnp.maximum(union, 1), 1.0)
        expected_iou = iou @ post
        weights = jnp.concatenate([jnp.zeros(1), post])
        return logits, expected_iou, weights
