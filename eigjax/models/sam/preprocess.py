"""SAM's and MedSAM's preprocessing, as their reference code does it (uint8 RGB in)."""

import numpy as np
from PIL import Image

from eigjax.models.configs import ModelConfig
from eigjax.models.resample import longest_side_shape


def longest_side(image: np.ndarray, config: ModelConfig) -> np.ndarray:
    """SAM's: the longest side resized to image_size (PIL bilinear on uint8), normalised
    with the pixel mean/std, zero-padded bottom/right."""
    size = config.image_size
    h, w = longest_side_shape(*image.shape[:2], size)
    resized = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    x = (resized.astype(np.float32) - np.float32(config.pixel_mean)) / np.float32(config.pixel_std)
    return np.pad(x, ((0, size - h), (0, size - w), (0, 0)))


def stretch_minmax(image: np.ndarray, config: ModelConfig) -> np.ndarray:
    """MedSAM's (`MedSAM_Inference.py`): resized to image_size × image_size ignoring the
    aspect (skimage, order 3, anti-aliasing), min-max to [0, 1], no mean/std, no pad."""
    from skimage import transform  # Imported here: only MedSAM needs it.

    size = config.image_size
    resized = transform.resize(
        image, (size, size), order=3, preserve_range=True, anti_aliasing=True
    ).astype(np.uint8)
    lo, hi = resized.min(), resized.max()
    x = (resized - lo) / np.clip(hi - lo, 1e-8, None)
    return x.astype(np.float32)
