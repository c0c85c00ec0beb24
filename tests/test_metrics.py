import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
from hypothesis import given, settings
from scipy import ndimage

from eigjax import metrics

masks = hnp.arrays(bool, (2, 6, 5))


@settings(deadline=None, max_examples=80)
@given(pair=masks)
def test_dice_and_iou_are_bounded_symmetric_one_on_themselves_and_related(pair):
    a, b = pair
    d, j = float(metrics.dice(a, b)), float(metrics.iou(a, b))
    assert 0.0 <= j <= d <= 1.0
    assert d == float(metrics.dice(b, a)) and j == float(metrics.iou(b, a))
    assert float(metrics.dice(a, a)) == 1.0 == float(metrics.iou(a, a))
    inter, total, union = (a & b).sum(), a.sum() + b.sum(), (a | b).sum()
    assert np.isclose(d, 1.0 if total == 0 else 2 * inter / total)
    assert np.isclose(j, 1.0 if union == 0 else inter / union)
    assert np.isclose(j, d / (2 - d))  # The identity that makes Dice 0.90 IoU 0.82.


def test_empty_masks():
    empty, full = np.zeros((4, 4), bool), np.ones((4, 4), bool)
    assert float(metrics.dice(empty, empty)) == 1.0 == float(metrics.iou(empty, empty))
    assert float(metrics.dice(empty, full)) == 0.0 == float(metrics.iou(empty, full))


def test_noc_is_the_first_click_reaching_the_iou_with_the_cap_and_failures():
    iou = np.array([0.5, 0.86, 0.84, 0.91, 0.96])  # Reached at clicks 2, 4, 5.
    assert [metrics.noc(iou, t) for t in (0.85, 0.90, 0.95)] == [2, 4, 5]
    assert not any(metrics.failed(iou, t) for t in (0.85, 0.90))
    assert metrics.failed(iou, 0.95) and not metrics.never(iou, 0.95)  # Only at click 5.
    never = np.array([0.5, 0.6, 0.89])  # Never 0.90: the cap (3 clicks run).
    assert metrics.noc(never, 0.90) == 3 and metrics.failed(never, 0.90)
    assert metrics.never(never, 0.90)
    # Reached at the last click also counts 3: a failure as RITM counts (over_max), but
    # not "never reached". The two counts are told apart.
    assert metrics.noc(never, 0.85) == 3 and metrics.failed(never, 0.85)
    assert not metrics.never(never, 0.85)
    assert metrics.noc(np.full(20, 0.1), 0.85) == 20
    assert metrics.noc(np.array([0.95]), 0.95) == 1  # Reaching the threshold counts.


def test_after_a_box_start_noc_counts_clicks_not_the_box():
    iou = np.array([0.86, 0.88, 0.91, 0.93])  # Step 0 is the box, then 3 clicks.
    assert [metrics.noc(iou, t, box_start=True) for t in (0.85, 0.90, 0.95)] == [0, 2, 3]
    assert not metrics.failed(iou, 0.90, box_start=True)
    assert metrics.failed(iou, 0.95, box_start=True) and metrics.never(iou, 0.95)
    assert metrics.failed(np.array([0.5, 0.6, 0.7, 0.95]), 0.95, box_start=True)  # At the cap.


def test_dice_auc_is_the_normalised_trapezoid():
    assert metrics.dice_auc(np.array([0.4])) == 0.4
    assert np.isclose(metrics.dice_auc(np.array([0.0, 1.0, 1.0])), 0.75)


@settings(deadline=None, max_examples=60)
@given(pair=masks)
def test_dice_iou_by_matrix_product_equals_the_reductions(pair):
    a, b = pair
    dice, iou = metrics.dice_iou(a, b)
    assert float(dice) == float(metrics.dice(a, b)) and float(iou) == float(metrics.iou(a, b))


@settings(deadline=None, max_examples=40)
@given(mask=hnp.arrays(bool, (9, 12)), x=st.integers(0, 11), y=st.integers(0, 8))
def test_boundary_distance_is_the_euclidean_distance_transform(mask, x, y):
    if mask.all() or not mask.any():
        return
    inside = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    outside = ndimage.distance_transform_edt(~mask)
    want = inside[y, x] if mask[y, x] else outside[y, x]
    np.testing.assert_allclose(float(metrics.boundary_distance(mask, x, y)), want, rtol=1e-6)
