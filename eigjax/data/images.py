"""Reading images and masks into the arrays the models take, with errors naming the file.

Conversion rule for images (`to_uint8_rgb`), whatever the file holds:
  uint8 gray [H, W] or [H, W, 1]  → repeated to 3 channels
  gray + alpha [H, W, 2]          → the gray channel
  RGBA [H, W, 4]                  → RGB (alpha dropped, not composited)
  any other dtype (16-bit, int, float, bool) → min-max scaled to 0..255 over the whole
                                    image and rounded (a constant image becomes 0)
Conversion rule for masks (`mask_from_pil`), foreground = True:
  1-bit, L, 16-bit (I;16), I, F   → value ≠ 0
  RGB                             → any channel ≠ 0 (black is background)
  LA, RGBA                        → the gray / colour channels as above; alpha is ignored
                                    unless it is the only channel that varies over the
                                    image (a shape drawn in alpha alone), then alpha ≠ 0
  P (palette), PA                 → its colours (and alpha), then the RGB(A) rule: what
                                    the image looks like, whatever the palette order
  any other mode                  → PIL's RGB conversion, then the RGB rule
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


def mask_from_pil(im: Image.Image) -> np.ndarray:
    """bool [H, W] from a PIL image, by the mask rule above."""
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")
    elif im.mode not in ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I", "F", "RGB", "RGBA"):
        im = im.convert("RGB")
    a = np.asarray(im)
    if a.ndim == 2:
        return a != 0
    colour, alpha = (a[..., :-1], a[..., -1]) if im.mode in ("LA", "RGBA") else (a, None)
    if alpha is not None and _constant(colour) and not _constant(alpha):
        return alpha != 0
    return np.any(colour != 0, axis=-1)


def _constant(a: np.ndarray) -> bool:
    return bool(np.all(a == a.reshape(-1, *a.shape[2:])[0]))


def read_mask(
    path: str, image_shape: tuple[int, ...] | None = None, image_path: str = ""
) -> np.ndarray:
    """bool [H, W] by the mask rule; checks it matches `image_shape` [H, W, ...] if given."""
    try:
        with Image.open(path) as im:
            m = mask_from_pil(im)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable mask ({e})") from None
    if image_shape is not None and m.shape != tuple(image_shape[:2]):
        raise DataError(
            f"{path}: mask is {m.shape[0]}x{m.shape[1]} but its image {image_path} is "
            f"{image_shape[0]}x{image_shape[1]}"
        )
    return m
