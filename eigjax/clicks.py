"""Click rules of the protocol: where the simulated annotator clicks next. Pure functions.

Coordinates are (x, y) integer pixels of the original image; labels come from the ground
truth at the clicked pixel (a noiseless annotator, Chung & Moyer Sec. 3). No rule ever
returns a pixel already clicked: `clicked` (bool [H, W], or [G] on the grid) masks them.
SAM-Med2D's rules may draw in its model's input frame (`Frame`): its own test loop works
on the 256-px input.
"""

import dataclasses

import numpy as np
from scipy import ndimage


def grid_points(height: int, width: int, n: int = 30) -> np.ndarray:
    """The candidate clicks: the centres of an n x n partition of the image, row-major.

    Args:
      height: the image's H.
      width: the image's W.
      n: the grid's side (the paper's 30).

    Returns:
      int [G, 2] (x, y), G = n²; fewer on an image narrower than n pixels, where centres
      would share a pixel (each pixel once, in the order it first appears).
    """
    ys = np.unique(np.floor((np.arange(n) + 0.5) * height / n).astype(np.int32))
    xs = np.unique(np.floor((np.arange(n) + 0.5) * width / n).astype(np.int32))
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def _inner_distance(region: np.ndarray) -> np.ndarray:
    """Distance of each region pixel to the nearest pixel outside it (the image border
    counts as outside, as in RITM's clicker)."""
    return ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]


def _argmax_xy(values: np.ndarray) -> tuple[int, int]:
    y, x = np.unravel_index(int(np.argmax(values)), values.shape)  # First in raster order.
    return int(x), int(y)


def first_click(gt: np.ndarray) -> tuple[int, int]:
    """The mask's "centre": its pixel farthest from its boundary (the image border counts
    as outside; ties: the first in raster order).

    Args:
      gt: bool [H, W], not empty.

    Returns:
      (x, y).
    """
    if not gt.any():
        raise ValueError("first_click: the ground-truth mask is empty")
    return _argmax_xy(_inner_distance(gt))


def gt_box(gt: np.ndarray) -> np.ndarray:
    """The tight bounding box of the mask's pixels (inclusive ends, as MedSAM derives its
    boxes from a mask).

    Args:
      gt: bool [H, W], not empty.

    Returns:
      float32 [4] (x0, y0, x1, y1).
    """
    ys, xs = np.nonzero(gt)
    if ys.size == 0:
        raise ValueError("gt_box: the ground-truth mask is empty")
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)


def largest_component(gt: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of the mask (ties: the first in raster order), as
    SAM-Med2D's `skimage.measure.label` + `regionprops` by area find it.

    Args:
      gt: bool [H, W], not empty.

    Returns:
      bool [H, W].
    """
    labels, n = ndimage.label(gt, structure=np.ones((3, 3), bool))
    if n == 0:
        raise ValueError("largest_component: the ground-truth mask is empty")
    areas = np.bincount(labels.ravel())[1:]
    return labels == 1 + int(np.argmax(areas))


def noisy_box(gt: np.ndarray, rng: np.random.Generator, std: float = 0.1, max_pixel: int = 5):
    """SAM-Med2D's box prompt from a mask: the half-open bounding box (x1, y1 one past the
    last pixel, skimage's `bbox`) of the largest connected component, both corners shifted
    by one integer offset per axis drawn uniformly from [-m, m) with
    m = min(max_pixel, int(std · min(width, height) · 5)).

    Args:
      gt: bool [H, W], not empty.
      rng: the draws' generator (unused, and may be None, when m = 0).
      std: SAM-Med2D's std (0.1).
      max_pixel: SAM-Med2D's max_pixel: its `test.py` uses 0 (no shift), its training 5.

    Returns:
      float32 [4] (x0, y0, x1, y1).

    Reference: OpenGVLab/SAM-Med2D, `utils.py: get_boxes_from_mask` (box_num=1).
    """
    ys, xs = np.nonzero(largest_component(gt))
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    m = min(max_pixel, int(min(x1 - x0, y1 - y0) * std * 5))
    dx, dy = (int(rng.integers(-m, m)), int(rng.integers(-m, m))) if m > 0 else (0, 0)
    # (With m = 0 no draw is taken: `rng` may be None.)
    return np.array([x0 + dx, y0 + dy, x1 + dx, y1 + dy], np.float32)


def error_center(
    pred: np.ndarray, gt: np.ndarray, clicked: np.ndarray | None = None
) -> tuple[int, int, int] | None:
    """RITM's clicker: the deepest pixel of the false-negative or false-positive region,
    whichever lies deeper (a tie goes to the false positive), positive for a false
    negative. Distances are to the region's boundary, the image border counting as
    outside; pixels already clicked are masked out of both distance maps after the
    transform.

    Args:
      pred: bool [H, W], the proposed mask.
      gt: bool [H, W], the ground truth.
      clicked: bool [H, W], the pixels already clicked, or None.

    Returns:
      (x, y, label), or None when no unclicked error pixel is left.

    Reference: Sofiiuk et al., "Reviving iterative training with mask guidance for
    interactive segmentation" (RITM), `isegm/inference/clicker.py: Clicker._get_next_click`.
    """
    fn_dist = _inner_distance(gt & ~pred)
    fp_dist = _inner_distance(pred & ~gt)
    if clicked is not None:
        fn_dist[clicked] = 0
        fp_dist[clicked] = 0
    if fn_dist.max() == 0 and fp_dist.max() == 0:
        return None
    positive = fn_dist.max() > fp_dist.max()
    x, y = _argmax_xy(fn_dist if positive else fp_dist)
    return x, y, int(positive)


def random_error(
    pred: np.ndarray, gt: np.ndarray, rng: np.random.Generator, clicked: np.ndarray | None = None
) -> tuple[int, int, int]:
    """SAM-Med2D's clicker: a uniformly random pixel of the error region (pred ≠ gt) not yet
    clicked, labelled by the ground truth (1 where the mask was missed, 0 where it spilled).

    Args:
      pred: bool [H, W], the proposed mask.
      gt: bool [H, W], the ground truth.
      rng: the draw's generator.
      clicked: bool [H, W], the pixels already clicked, or None.

    Returns:
      (x, y, label); with no unclicked error pixel left, a uniformly random pixel labelled
      -1: SAM's "not a point", which SAM-Med2D's loop feeds the model then (a padding
      token, not a click).

    Reference: OpenGVLab/SAM-Med2D, `utils.py: select_random_points` (point_num=1 per
    iteration, as its `test.py --iter_point` loop draws them). Unlike it, a pixel is never
    drawn twice.
    """
    error = pred != gt
    if clicked is not None:
        error &= ~clicked
    ys, xs = np.nonzero(error)
    if ys.size == 0:
        return int(rng.integers(gt.shape[1])), int(rng.integers(gt.shape[0])), -1
    i = int(rng.integers(ys.size))
    return int(xs[i]), int(ys[i]), int(gt[ys[i], xs[i]])


@dataclasses.dataclass(frozen=True)
class Frame:
    """Where a clicker draws: an image of `shape` (H, W) seen in a square frame of side
    `size` (a model's input, stretched), or the original pixels (`size` None). Frame pixel
    (x, y) shows original pixel (⌊x·W/S⌋, ⌊y·H/S⌋) as cv2.INTER_NEAREST rounds it, the rule
    with which SAM-Med2D resizes its masks."""

    shape: tuple[int, int]
    size: int | None = None

    def _rows_cols(self) -> tuple[np.ndarray, np.ndarray]:
        """The original row and column each frame row and column shows: ⌊i · (1 / (S / n))⌋,
        in doubles as cv2 computes it (its inverse scale rounds, so 128 · 210 / 256 = 105
        is 104 there)."""
        steps = np.arange(self.size)
        return tuple(
            np.minimum(np.floor(steps * (1.0 / (self.size / n))).astype(int), n - 1)
            for n in self.shape
        )

    def view(self, mask: np.ndarray) -> np.ndarray:
        """A mask as this frame shows it.

        Args:
          mask: bool [H, W].

        Returns:
          bool [S, S]; `mask` itself for the original frame.
        """
        if self.size is None:
            return mask
        rows, cols = self._rows_cols()
        return mask[rows[:, None], cols[None, :]]

    def to_original(self, x: int, y: int) -> tuple[int, int]:
        """The original pixel a frame pixel shows.

        Args:
          x: the frame pixel's column.
          y: its row.

        Returns:
          (x, y) in the original image.
        """
        if self.size is None:
            return x, y
        rows, cols = self._rows_cols()
        return int(cols[x]), int(rows[y])
