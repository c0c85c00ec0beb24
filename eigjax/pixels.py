"""The conversion rule of image arrays to the uint8 RGB the models take, shared by the
models' preprocessing and the datasets' readers (a leaf module: it imports no eigjax).

  uint8 gray [H, W] or [H, W, 1]  → repeated to 3 channels
  gray + alpha [H, W, 2]          → the gray channel
  RGBA [H, W, 4]                  → RGB (alpha dropped, not composited)
  any other dtype (16-bit, int, float, bool) → min-max scaled to 0..255 over the whole
                                    image and rounded (a constant image becomes 0); a
                                    float image with a NaN or infinite pixel is refused
                                    (ValueError counting them): it has no display range
"""

import numpy as np


def to_uint8_rgb(array: np.ndarray) -> np.ndarray:
    """Any 2-D or [H, W, C] image array → uint8 [H, W, 3] by the module's rule."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[-1] in (2, 4):
        a = a[..., :1] if a.shape[-1] == 2 else a[..., :3]
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3):
        raise ValueError(f"cannot read an image of shape {np.asarray(array).shape}")
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        bad = int(np.sum(~np.isfinite(a[..., 0])))
        if bad:
            raise ValueError(
                f"{bad} of {a.shape[0] * a.shape[1]} pixels are not finite (NaN or infinity)"
            )
        lo, hi = np.min(a), np.max(a)
        a = np.zeros_like(a) if hi == lo else (a - lo) / (hi - lo) * 255
        a = np.round(a).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(a, (*a.shape[:2], 3)))
