import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import given, settings

from eigjax import metrics

masks = hnp.arrays(bool, (2, 6, 5))


@settings(deadline=None, max_examples=80)
@given(pair=masks)
def test_dice_is_bounded_symmetric_and_one_on_itself(pair):
    a, b = pair
    d = float(metrics.dice(a, b))
    assert 0.0 <= d <= 1.0
    assert d == float(metrics.dice(b, a))
    assert float(metrics.dice(a, a)) == 1.0
    inter, total = (a & b).sum(), a.sum() + b.sum()
    assert np.isclose(d, 1.0 if total == 0 else 2 * inter / total)


def test_empty_masks():
    empty, full = np.zeros((4, 4), bool), np.ones((4, 4), bool)
    assert float(metrics.dice(empty, empty)) == 1.0
    assert float(metrics.dice(empty, full)) == 0.0


def test_noc_counts_clicks_and_caps():
    d = np.array([0.5, 0.82, 0.86, 0.95])
    assert metrics.noc(d, 0.80) == 2 and metrics.noc(d, 0.85) == 3 and metrics.noc(d, 0.90) == 4
    assert metrics.noc(np.full(30, 0.5), 0.9) == metrics.NOC_CAP
    late = np.concatenate([np.zeros(25), np.ones(5)])  # Reached after the cap: still capped.
    assert metrics.noc(late, 0.9) == metrics.NOC_CAP


def test_dice_auc_is_the_normalised_trapezoid():
    assert metrics.dice_auc(np.array([0.4])) == 0.4
    assert np.isclose(metrics.dice_auc(np.array([0.0, 1.0, 1.0])), 0.75)
