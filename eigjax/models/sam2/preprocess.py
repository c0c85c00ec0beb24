"""SAM 2's preprocessing (its `SAM2Transforms`), uint8 RGB in."""

import numpy as np

from eigjax.models.configs import ModelConfig
from eigjax.models.resample import antialias_bilinear_matrix


def stretch_antialias(image: np.ndarray, config: ModelConfig) -> np.ndarray:
    """To [0, 1], resized to image_size × image_size ignoring the aspect (bilinear with
    antialias, as torchvision's tensor `Resize`), normalised with the pixel mean/std on
    [0, 1]."""
    size = config.image_size
    rows = antialias_bilinear_matrix(image.shape[0], size).astype(np.float32)
    cols = antialias_bilinear_matrix(image.shape[1], size).astype(np.float32)
    x = image.astype(np.float32) / np.float32(255)
    x = np.einsum("ij,jkc,lk->ilc", rows, x, cols, optimize=True)  # Two matmuls.
    return (x - np.float32(config.pixel_mean)) / np.float32(config.pixel_std)
