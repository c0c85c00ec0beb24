"""Click rules of the protocol: where the simulated annotator clicks next. Pure functions.

Coordinates are (x, y) integer pixels of the original image; labels come from the ground
truth at the clicked pixel (a noiseless annotator, Chung & Moyer Sec. 3).
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


def error_center(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int] | None:
    """RITM's clicker: the deepest pixel of the false-negative or false-positive region,
    whichever lies deeper; positive for a false negative. None when there is no error.

    Reference: Sofiiuk et al., "Reviving iterative training with mask guidance for
    interactive segmentation" (RITM), `isegm/inference/clicker.py`.
    """
    fn_dist = _inner_distance(gt & ~pred)
    fp_dist = _inner_distance(pred & ~gt)
    if fn_dist.max() == 0 and fp_dist.max() == 0:
        return None
    positive = fn_dist.max() > fp_dist.max()
    x, y = _argmax_xy(fn_dist if positive else fp_dist)
    return x, y, int(positive)


def random_error(pred: np.ndarray, gt: np.ndarray, rng: np.random.Generator):
    """SAM-Med2D's clicker: a uniformly random pixel of the error region, labelled by the
    ground truth. None when there is no error."""
    ys, xs = np.nonzero(pred != gt)
    if ys.size == 0:
        return None
    i = int(rng.integers(ys.size))
    return int(xs[i]), int(ys[i]), int(gt[ys[i], xs[i]])


def argmax_unclicked(scores: np.ndarray, clicked: np.ndarray) -> int:
    """Index of the best score [G] among grid points not yet clicked (bool [G])."""
    if clicked.all():
        raise ValueError("every grid point has been clicked")
    return int(np.argmax(np.where(clicked, -np.inf, scores)))


def random_unclicked(clicked: np.ndarray, rng: np.random.Generator) -> int:
    """A uniformly random grid point not yet clicked."""
    free = np.nonzero(~clicked)[0]
    if free.size == 0:
        raise ValueError("every grid point has been clicked")
    return int(free[rng.integers(free.size)])
