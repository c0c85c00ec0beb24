"""SAM 3's preprocessing (`Sam3Processor`'s transform), uint8 RGB in."""

import numpy as np

from eigjax.models.configs import ModelConfig
from eigjax.models.resample import antialias_bilinear_matrix


def resized_uint8(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 [size, size, 3]: `v2.Resize((size, size))` of the uint8 image (bilinear, with
    antialias) as torchvision computes it on floats (its path on CUDA): resampled in
    float32, rounded half to even, clipped to [0, 255]. On an AVX2 CPU torch takes a
    fixed-point uint8 path instead, one grey level off on some pixels (docs/models.md, SAM 3)."""
    rows = antialias_bilinear_matrix(image.shape[0], size).astype(np.float32)
    cols = antialias_bilinear_matrix(image.shape[1], size).astype(np.float32)
    x = np.einsum("ij,jkc,lk->ilc", rows, image.astype(np.float32), cols, optimize=True)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def stretch_uint8(image: np.ndarray, config: ModelConfig) -> np.ndarray:
    """Resized to image_size × image_size ignoring the aspect, in uint8 (`resized_uint8`),
    then ÷ 255 and normalised with the pixel mean/std on [0, 1] (`Sam3Processor`)."""
    x = resized_uint8(image, config.image_size).astype(np.float32) / np.float32(255)
    return (x - np.float32(config.pixel_mean)) / np.float32(config.pixel_std)
