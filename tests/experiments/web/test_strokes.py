"""Brush and eraser strokes as pure functions: the pixels a stroke covers, checked against
the definition pixel by pixel, the order of strokes, and one-line errors."""

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from experiments.web import strokes

coordinate = st.floats(-5, 25, allow_nan=False)
point = st.tuples(coordinate, coordinate).map(list)


def _distance(px, py, a, b):
    """Distance of (px, py) to the segment a–b, by its definition."""
    d = np.subtract(b, a)
    length2 = float(d @ d)
    t = (
        0.0
        if length2 == 0
        else min(1.0, max(0.0, ((px - a[0]) * d[0] + (py - a[1]) * d[1]) / length2))
    )
    return np.hypot(px - a[0] - t * d[0], py - a[1] - t * d[1])


@settings(max_examples=80, deadline=None)
@given(st.lists(point, min_size=1, max_size=4), st.floats(0.5, 6))
def test_a_stroke_covers_the_pixels_whose_centres_lie_within_its_radius(points, radius):
    (stroke,) = strokes.parse([{"mode": "brush", "radius": radius, "points": points}], 20, 16)
    pairs = list(zip(points, points[1:], strict=False)) or [(points[0], points[0])]
    expected = np.array([
        [min(_distance(c + 0.5, r + 0.5, a, b) for a, b in pairs) <= radius for c in range(20)]
        for r in range(16)
    ])  # fmt: skip
    assert np.array_equal(strokes.covered(stroke, 16, 20), expected)


def test_strokes_apply_in_order_a_brush_sets_an_eraser_clears():
    line = [[2, 5], [17, 5]]
    brush = {"mode": "brush", "radius": 2, "points": line}
    eraser = {"mode": "eraser", "radius": 2, "points": line}
    mask = np.zeros((10, 20), bool)
    assert not strokes.apply(mask, strokes.parse([brush, eraser], 20, 10)).any()
    again = strokes.apply(mask, strokes.parse([eraser, brush], 20, 10))
    assert np.array_equal(again, strokes.covered(strokes.parse([brush], 20, 10)[0], 10, 20))


@pytest.mark.parametrize(
    "stroke, message",
    [
        ({"mode": "pen", "radius": 2, "points": [[1, 1]]}, "strokes\\[0\\].mode"),
        ({"mode": "brush", "radius": 0, "points": [[1, 1]]}, "radius: a number from 0.5"),
        ({"mode": "brush", "radius": 2, "points": []}, "points: a non-empty list"),
        ({"mode": "brush", "radius": 2, "points": [[1, "a"]]}, "points: a non-empty list"),
        ({"mode": "brush", "radius": 2, "points": [[1e9, 1]]}, "far outside the 20×10 image"),
        ({"mode": "brush", "points": [[1, 1]]}, "expected {mode, radius, points}"),
    ],
)
def test_a_bad_stroke_is_one_line_naming_it(stroke, message):
    with pytest.raises(ValueError, match=message):
        strokes.parse([stroke], 20, 10)
