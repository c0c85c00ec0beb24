import numpy as np
import pytest
from scipy import ndimage

from eigjax import clicks


def test_grid_points_are_cell_centres():
    g = clicks.grid_points(90, 60, 30)
    assert g.shape == (900, 2) and len({tuple(p) for p in g}) == 900
    assert g[0].tolist() == [1, 1] and g[-1].tolist() == [59, 88]
    assert g[:, 0].max() < 60 and g[:, 1].max() < 90


def test_first_click_is_the_deepest_mask_pixel():
    gt = np.zeros((20, 30), bool)
    gt[2:9, 3:20] = True  # A 7 x 17 bar: the centre row is 5.
    x, y = clicks.first_click(gt)
    assert gt[y, x] and y == 5
    depth = ndimage.distance_transform_edt(np.pad(gt, 1))[1:-1, 1:-1]
    assert depth[y, x] == depth.max()
    with pytest.raises(ValueError, match="empty"):
        clicks.first_click(np.zeros((3, 3), bool))


def test_error_center_picks_the_deeper_error_with_its_sign():
    gt = np.zeros((30, 30), bool)
    gt[5:25, 5:25] = True
    pred = np.zeros_like(gt)
    pred[5:25, 5:12] = True  # Large false negative on the right.
    pred[0:2, 0:2] = True  # Small false positive.
    x, y, label = clicks.error_center(pred, gt)
    assert label == 1 and gt[y, x] and not pred[y, x]
    x, y, label = clicks.error_center(~gt, gt & False)  # Everything predicted is wrong.
    assert label == 0
    assert clicks.error_center(gt, gt) is None


def test_random_error_lies_in_the_error_region_with_the_gt_label():
    rng = np.random.default_rng(0)
    gt = np.zeros((10, 10), bool)
    gt[2:6, 2:6] = True
    pred = np.zeros_like(gt)
    pred[7:9, 7:9] = True
    for _ in range(20):
        x, y, label = clicks.random_error(pred, gt, rng)
        assert pred[y, x] != gt[y, x] and label == int(gt[y, x])
    assert clicks.random_error(gt, gt, rng) is None


def test_unclicked_choices_skip_clicked_points():
    clicked = np.array([True, False, True, False])
    assert clicks.argmax_unclicked(np.array([9.0, 1.0, 8.0, 2.0]), clicked) == 3
    rng = np.random.default_rng(1)
    assert {clicks.random_unclicked(clicked, rng) for _ in range(30)} == {1, 3}
    with pytest.raises(ValueError):
        clicks.argmax_unclicked(np.zeros(2), np.ones(2, bool))
