"""Brush and eraser strokes on the proposed mask: the hand's edits, applied by the server
after the model's mask, so that a saved object's mask follows from what it stores (its
prompts and its strokes). Pure functions; no I/O.

  {"mode": "brush" | "eraser", "radius": r, "points": [[x, y], …]}   in image pixels

A stroke covers every pixel whose centre (x + 0.5, y + 0.5) lies within r of the polyline
through its points (a disc around a single point). Strokes apply in order after the
model's mask, a brush setting pixels and an eraser clearing them; a prompt given after a
stroke keeps it (the model's new mask, then every stroke again).
"""

import dataclasses

import numpy as np

MODES = ("brush", "eraser")
MAX_RADIUS = 512.0
MAX_POINTS = 20_000  # Over all strokes of one request.


@dataclasses.dataclass(frozen=True)
class Stroke:
    mode: str  # one of MODES
    radius: float  # pixels
    points: np.ndarray  # float [P, 2] (x, y)

    def to_json(self) -> dict:
        return {"mode": self.mode, "radius": self.radius, "points": self.points.tolist()}


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def parse(strokes, width: int, height: int) -> tuple[Stroke, ...]:
    """JSON strokes (a list) → `Stroke`s; ValueError naming the stroke and what is wrong.
    Points may lie outside the image (a stroke dragged past its edge), within its size."""
    out, total = [], 0
    for i, s in enumerate(strokes):
        if not isinstance(s, dict) or set(s) != {"mode", "radius", "points"}:
            raise ValueError(f"strokes[{i}]: expected {{mode, radius, points}}")
        if s["mode"] not in MODES:
            raise ValueError(f"strokes[{i}].mode: one of {list(MODES)}")
        if not _finite(s["radius"]) or not 0.5 <= s["radius"] <= MAX_RADIUS:
            raise ValueError(f"strokes[{i}].radius: a number from 0.5 to {MAX_RADIUS:g}")
        points = s["points"]
        ok = (
            isinstance(points, list)
            and points
            and all(isinstance(p, list) and len(p) == 2 and all(map(_finite, p)) for p in points)
        )
        if not ok:
            raise ValueError(f"strokes[{i}].points: a non-empty list of [x, y]")
        xy = np.asarray(points, np.float64)
        if (np.abs(xy) > 2 * max(width, height)).any():
            raise ValueError(f"strokes[{i}].points: far outside the {width}×{height} image")
        total += len(xy)
        if total > MAX_POINTS:
            raise ValueError(f"strokes: at most {MAX_POINTS} points in all")
        out.append(Stroke(s["mode"], float(s["radius"]), xy))
    return tuple(out)


def covered(stroke: Stroke, height: int, width: int) -> np.ndarray:
    """bool [H, W]: the pixels whose centres lie within the stroke's radius of its
    polyline."""
    out = np.zeros((height, width), bool)
    r = stroke.radius
    ends = stroke.points[1:] if len(stroke.points) > 1 else stroke.points  # A dot: [a, a].
    for a, b in zip(stroke.points[: len(ends)], ends, strict=True):
        x0, x1 = sorted((a[0], b[0]))
        y0, y1 = sorted((a[1], b[1]))
        cols = np.arange(max(0, int(x0 - r - 1)), min(width, int(np.ceil(x1 + r + 1))))
        rows = np.arange(max(0, int(y0 - r - 1)), min(height, int(np.ceil(y1 + r + 1))))
        if not len(cols) or not len(rows):
            continue
        px, py = cols[None, :] + 0.5, rows[:, None] + 0.5
        d = b - a
        length2 = float(d @ d)
        t = (
            0.0
            if length2 == 0
            else np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / length2, 0, 1)
        )
        near = (px - a[0] - t * d[0]) ** 2 + (py - a[1] - t * d[1]) ** 2 <= r * r
        out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] |= near
    return out


def apply(mask: np.ndarray, strokes: tuple[Stroke, ...]) -> np.ndarray:
    """bool [H, W]: `mask` with `strokes` applied in order."""
    out = np.array(mask, bool)
    for s in strokes:
        cover = covered(s, *out.shape)
        out = out | cover if s.mode == "brush" else out & ~cover
    return out
