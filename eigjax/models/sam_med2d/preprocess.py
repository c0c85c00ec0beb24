"""SAM-Med2D's preprocessing (its `SammedPredictor`), uint8 RGB in."""

import numpy as np

from eigjax.models.configs import ModelConfig


def normalize_stretch_nearest(image: np.ndarray, config: ModelConfig) -> np.ndarray:
    """Normalised with the pixel mean/std first, then resized to image_size × image_size
    with cv2.INTER_NEAREST; no pad."""
    import cv2  # Imported here: only SAM-Med2D and LiteMedSAM need it.

    size = config.image_size
    x = (image - np.float32(config.pixel_mean)) / np.float32(config.pixel_std)
    return cv2.resize(x.astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)
