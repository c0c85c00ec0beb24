"""Sizes and resampling matrices as the reference implementations compute them: pure
numpy, shared by every family's preprocessing and by post-processing (`transforms.py`).
"""

import jax
import jax.numpy as jnp
import numpy as np


def longest_side_shape(h: int, w: int, long_side: int) -> tuple[int, int]:
    """(h, w) scaled so the longest side is `long_side`, rounded as `ResizeLongestSide`;
    a side the reference would round to 0 pixels (a 1 x 1000 image at 256) keeps 1."""
    scale = long_side * 1.0 / max(h, w)
    return max(int(h * scale + 0.5), 1), max(int(w * scale + 0.5), 1)


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """float64 [out, in]: 1-D bilinear resampling as torch's interpolate(align_corners=False).

    Source positions are float32 as in torch's CPU kernel for float32 tensors, which
    computes `scale * (i + 0.5) - 0.5` with one fused multiply-add: the exact value,
    rounded once. Matching that rounding keeps the weights equal to the reference's.
    """
    f32 = np.float32
    scale = np.float64(f32(in_size) / f32(out_size))
    src = (scale * (np.arange(out_size) + 0.5) - 0.5).astype(f32)
    src = np.maximum(src, f32(0))
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    frac = src - i0.astype(f32)
    m = np.zeros((out_size, in_size))
    np.add.at(m, (np.arange(out_size), i0), f32(1) - frac)
    np.add.at(m, (np.arange(out_size), i1), frac)
    return m


def antialias_bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """float64 [out, in]: 1-D bilinear resampling with antialias, as torch's
    interpolate(mode="bilinear", antialias=True, align_corners=False) (and so
    torchvision's tensor `Resize`): a triangle filter widened by the downscale factor,
    its taps normalised to sum to 1 (`_upsample_bilinear2d_aa`)."""
    scale = in_size / out_size
    support = scale if scale >= 1.0 else 1.0  # interp_size / 2 = 1, times the scale.
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    m = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        taps = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((taps - center + 0.5) * invscale))
        m[i, lo:hi] = w / w.sum()
    return m


def taps(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A resampling matrix [out, in] as its non-zero taps: source indexes and weights, each
    [out, T] (T: the most taps of any row; unused taps have weight 0)."""
    count = max(int(np.max(np.sum(matrix != 0, axis=1))), 1)
    index = np.zeros((matrix.shape[0], count), np.int32)
    weight = np.zeros((matrix.shape[0], count), matrix.dtype)
    for i, row in enumerate(matrix):
        (nz,) = np.nonzero(row)
        index[i, : nz.size], weight[i, : nz.size] = nz, row[nz]
    return index, weight


def resample(x: jax.Array, index: np.ndarray, weight: np.ndarray, axis: int) -> jax.Array:
    """Σ_t weight[:, t] · x[index[:, t]] along `axis` (-2: rows, -1: columns)."""
    out = 0.0
    for t in range(index.shape[1]):
        picked = jnp.take(x, index[:, t], axis=axis)
        w = weight[:, t] if axis == -1 else weight[:, t, None]
        out = out + picked * w.reshape((1,) * (picked.ndim - w.ndim) + w.shape)
    return out
