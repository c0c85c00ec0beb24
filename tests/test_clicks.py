import cv2
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from scipy import ndimage

from eigjax import assess, clicks


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
    # No error left: SAM-Med2D's draw, a uniformly random pixel as a -1 "not a point".
    pads = {clicks.random_error(gt, gt, rng) for _ in range(30)}
    assert all(label == -1 and 0 <= x < 10 and 0 <= y < 10 for x, y, label in pads)
    assert len(pads) > 10


def test_unclicked_choice_skips_clicked_points_and_breaks_ties_by_index():
    clicked = np.array([True, False, True, False])
    best, value = assess.best_unclicked(np.array([9.0, 1.0, 8.0, 2.0]), clicked)
    assert int(best) == 3 and float(value) == 2.0
    best, _ = assess.best_unclicked(np.array([5.0, 2.0, 5.0, 5.0]), clicked)
    assert int(best) == 3  # The tie between 0 (clicked), 2 (clicked) and 3: the first free.
    assert int(assess.best_unclicked(np.array([1.0, 4.0, 4.0]), np.zeros(3, bool))[0]) == 1
    assert float(assess.best_unclicked(np.zeros(2), np.ones(2, bool))[1]) == -np.inf


def _ritm_next_click(pred, gt, not_clicked):
    """RITM's `Clicker._get_next_click` (isegm/inference/clicker.py), transcribed: cv2
    distance transforms of the padded error regions, masked by the not-clicked map."""
    fn = np.pad(gt & ~pred, 1).astype(np.uint8)
    fp = np.pad(~gt & pred, 1).astype(np.uint8)
    fn_dt = cv2.distanceTransform(fn, cv2.DIST_L2, 0)[1:-1, 1:-1] * not_clicked
    fp_dt = cv2.distanceTransform(fp, cv2.DIST_L2, 0)[1:-1, 1:-1] * not_clicked
    positive = fn_dt.max() > fp_dt.max()
    ys, xs = np.where(fn_dt == fn_dt.max()) if positive else np.where(fp_dt == fp_dt.max())
    return int(xs[0]), int(ys[0]), int(positive)


@hyp_settings(deadline=None, max_examples=60)
@given(
    gt=hnp.arrays(bool, (12, 15)),
    pred=hnp.arrays(bool, (12, 15)),
    clicked=hnp.arrays(bool, (12, 15), elements=st.sampled_from([False] * 5 + [True])),
)
def test_error_center_is_ritms_rule(gt, pred, clicked):
    """The same click as RITM's clicker whenever an unclicked error pixel remains."""
    ours = clicks.error_center(pred, gt, clicked)
    if not ((gt != pred) & ~clicked).any():
        assert ours is None
        return
    assert ours == _ritm_next_click(pred, gt, ~clicked)


@hyp_settings(deadline=None, max_examples=40)
@given(gt=hnp.arrays(bool, (10, 11)), pred=hnp.arrays(bool, (10, 11)), seed=st.integers(0, 99))
def test_clickers_never_repeat_a_pixel_for_a_model_that_ignores_clicks(gt, pred, seed):
    """A model whose mask never changes: each clicker walks through distinct error pixels
    (RITM's rule with its not-clicked map), then stops (RITM: None; SAM-Med2D: a -1
    padding point, never a click)."""
    rng = np.random.default_rng(seed)
    errors = int((gt != pred).sum())
    for rule in (
        lambda c: clicks.error_center(pred, gt, c),
        lambda c: clicks.random_error(pred, gt, rng, c),
    ):
        clicked = np.zeros_like(gt)
        for _ in range(errors):
            x, y, label = rule(clicked)
            assert not clicked[y, x] and pred[y, x] != gt[y, x] and label == int(gt[y, x])
            clicked[y, x] = True
        last = rule(clicked)
        assert last is None or last[2] == -1


def test_ritm_rule_on_a_ring_picks_the_deepest_unclicked_pixel():
    gt = np.zeros((21, 21), bool)
    gt[3:18, 3:18] = True
    pred = np.zeros_like(gt)  # The whole square is a false negative; its centre (10, 10).
    assert clicks.error_center(pred, gt) == (10, 10, 1)
    clicked = np.zeros_like(gt)
    clicked[10, 10] = True
    x, y, label = clicks.error_center(pred, gt, clicked)
    assert (x, y) != (10, 10) and label == 1 and max(abs(x - 10), abs(y - 10)) == 1


def test_gt_box_and_sam_med2d_jitter():
    gt = np.zeros((100, 120), bool)
    gt[20:61, 30:91] = True  # 41 rows, 61 columns.
    np.testing.assert_array_equal(clicks.gt_box(gt), [30, 20, 90, 60])  # Inclusive.
    half_open = np.array([30, 20, 91, 61])  # SAM-Med2D's (skimage's bbox).
    # m = min(5, int(0.1 * 41 * 5)) = 5: both corners shift together by [-5, 5) per axis.
    shifts = set()
    for seed in range(200):
        box = clicks.noisy_box(gt, np.random.default_rng(seed))
        d = box - half_open
        assert d[0] == d[2] and d[1] == d[3] and -5 <= d[0] < 5 and -5 <= d[1] < 5
        shifts.add((d[0], d[1]))
    assert len(shifts) > 50
    a = clicks.noisy_box(gt, np.random.default_rng(3))
    np.testing.assert_array_equal(a, clicks.noisy_box(gt, np.random.default_rng(3)))
    np.testing.assert_array_equal(clicks.noisy_box(gt, None, max_pixel=0), half_open)
    small = np.zeros((10, 10), bool)
    small[4:6, 4:6] = True  # min side 2: m = int(0.1 * 2 * 5) = 1, shifts in {-1, 0}.
    d = clicks.noisy_box(small, np.random.default_rng(0)) - [4, 4, 6, 6]
    assert set(d.tolist()) <= {-1.0, 0.0}


def _sam_med2d_box(mask):
    """SAM-Med2D's `get_boxes_from_mask` (utils.py) with max_pixel=0, transcribed: skimage
    labels, the largest region's bbox, as (x0, y0, x1, y1)."""
    from skimage.measure import label, regionprops

    regions = sorted(regionprops(label(mask)), key=lambda r: r.area, reverse=True)
    y0, x0, y1, x1 = regions[0].bbox
    return [x0, y0, x1, y1]


@hyp_settings(deadline=None, max_examples=60)
@given(mask=hnp.arrays(bool, (9, 11)))
def test_noisy_box_without_jitter_is_sam_med2ds_box_of_the_largest_component(mask):
    if not mask.any():
        return
    areas = np.bincount(ndimage.label(mask, np.ones((3, 3)))[0].ravel())[1:]
    if (areas == areas.max()).sum() > 1:
        return  # Equal largest areas: the order of skimage's sort is not ours to match.
    np.testing.assert_array_equal(clicks.noisy_box(mask, None, max_pixel=0), _sam_med2d_box(mask))


@hyp_settings(deadline=None, max_examples=30)
@given(h=st.integers(1, 300), w=st.integers(1, 300), seed=st.integers(0, 2**31 - 1))
def test_frame_views_a_mask_as_cv2_nearest_resizes_it(h, w, seed):
    mask = np.random.default_rng(seed).random((h, w)) > 0.5
    frame = clicks.Frame((h, w), 256)
    ref = cv2.resize(mask.astype(np.uint8), (256, 256), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(frame.view(mask), ref.astype(bool))
    for x, y in ((0, 0), (255, 255), (17, 200)):
        ox, oy = frame.to_original(x, y)
        assert frame.view(mask)[y, x] == mask[oy, ox]
    assert clicks.Frame((h, w)).view(mask) is mask
