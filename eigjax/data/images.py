"""Reading images and masks into the arrays the models take, with errors naming the file.

Conversion rule for images (`to_uint8_rgb`), whatever the file holds:
  uint8 gray [H, W] or [H, W, 1]  → repeated to 3 channels
  gray + alpha [H, W, 2]          → the gray channel
  RGBA [H, W, 4]                  → RGB (alpha dropped, not composited)
  any other dtype (16-bit, int, float, bool) → min-max scaled to 0..255 over the whole
                                    image and rounded (a constant image becomes 0)
Masks: any non-zero value (in any channel) is foreground.
"""

import dataclasses

import numpy as np
from PIL import Image


class DataError(ValueError):
    """An input file is missing, unreadable or inconsistent; the message names it."""


@dataclasses.dataclass
class Sample:
    image: np.ndarray  # uint8 [H, W, 3]
    mask: np.ndarray  # bool [H, W]
    id: str  # unique within its dataset; records are keyed by it
    meta: dict = dataclasses.field(default_factory=dict)


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
        lo, hi = np.min(a), np.max(a)
        a = np.zeros_like(a) if hi == lo else (a - lo) / (hi - lo) * 255
        a = np.round(a).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(a, (*a.shape[:2], 3)))


def _open(path: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable image ({e})") from None


def read_image(path: str) -> np.ndarray:
    """uint8 [H, W, 3] from any image file PIL reads (conversion rule above)."""
    try:
        return to_uint8_rgb(_open(path))
    except ValueError as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: {e}") from None


def read_mask(
    path: str, image_shape: tuple[int, ...] | None = None, image_path: str = ""
) -> np.ndarray:
    """bool [H, W]; checks it matches `image_shape` [H, W, ...] if given."""
    m = _open(path)
    m = m.any(axis=-1) if m.ndim == 3 else m != 0
    if image_shape is not None and m.shape != tuple(image_shape[:2]):
        raise DataError(
            f"{path}: mask is {m.shape[0]}x{m.shape[1]} but its image {image_path} is "
            f"{image_shape[0]}x{image_shape[1]}"
        )
    return m
