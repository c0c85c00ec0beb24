"""Click rules of the protocol: where the simulated annotator clicks next. Pure functions.

Coordinates are (x, y) integer pixels of the original image; labels come from the ground
truth at the clicked pixel (a noiseless annotator, Chung & Moyer Sec. 3). No rule ever
returns a pixel already clicked: `clicked` (bool [H, W], or [G] on the grid) masks them.
"""

import numpy as np
from scipy import ndimage


def grid_points(height: int, width: int, n: int = 30) -> np.ndarray:
    """int [n*n, 2] (x, y): centres of an n x n partition of the image, row-major."""
    ys = np.floor((np.arange(n) + 0.5) * height / n).astype(np.int32)
    xs = np.floor((np.arange(n) + 0.5) * width / n).astype(np.int32)
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
    """The ground-truth pixel farthest from the mask boundary: the mask's "centre"."""
    if not gt.any():
        raise ValueError("first_click: the ground-truth mask is empty")
    return _argmax_xy(_inner_distance(gt))


def gt_box(gt: np.ndarray) -> np.ndarray:
    """float32 [4] (x0, y0, x1, y1): the tight bounding box of the mask's pixels (inclusive
    ends, as MedSAM derives its boxes from a mask)."""
    ys, xs = np.nonzero(gt)
    if ys.size == 0:
        raise ValueError("gt_box: the ground-truth mask is empty")
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float32)


def noisy_box(gt: np.ndarray, rng: np.random.Generator, std: float = 0.1, max_pixel: int = 5):
    """`gt_box` shifted as SAM-Med2D jitters its boxes: both corners move by the same
    integer offset per axis, drawn uniformly from [-m, m) with
    m = min(max_pixel, int(std · min(width, height) · 5)); no shift when m = 0.

    Reference: OpenGVLab/SAM-Med2D, `utils.py: get_boxes_from_mask` (its defaults std=0.1,
    max_pixel=5 are the training jitter; its `test.py` evaluates with max_pixel=0, which is
    the plain `gt_box` start).
    """
    x0, y0, x1, y1 = gt_box(gt)
    width, height = x1 - x0 + 1, y1 - y0 + 1
    m = min(max_pixel, int(min(width, height) * std * 5))
    dx, dy = (int(rng.integers(-m, m)), int(rng.integers(-m, m))) if m > 0 else (0, 0)
    return np.array([x0 + dx, y0 + dy, x1 + dx, y1 + dy], np.float32)


def error_center(
    pred: np.ndarray, gt: np.ndarray, clicked: np.ndarray | None = None
) -> tuple[int, int, int] | None:
    """RITM's clicker: the deepest pixel of the false-negative or false-positive region,
    whichever lies deeper (a tie goes to the false positive), positive for a false
    negative. Distances are to the region's boundary, the image border counting as
    outside; pixels already `clicked` are masked out of both distance maps after the
    transform. None when no unclicked error pixel is left.

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
) -> tuple[int, int, int] | None:
    """SAM-Med2D's clicker: a uniformly random pixel of the error region (pred ≠ gt) not yet
    clicked, labelled by the ground truth. None when no unclicked error pixel is left.

    Reference: OpenGVLab/SAM-Med2D, `utils.py: select_random_points` (one point per
    iteration, as its `test.py --iter_point` loop draws them).
    """
    error = pred != gt
    if clicked is not None:
        error &= ~clicked
    ys, xs = np.nonzero(error)
    if ys.size == 0:
        return None
    i = int(rng.integers(ys.size))
    return int(xs[i]), int(ys[i]), int(gt[ys[i], xs[i]])
