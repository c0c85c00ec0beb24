"""LiteMedSAM's preprocessing (`CVPR24_LiteMedSAM_infer.py`), uint8 RGB in. MobileSAM
preprocesses as SAM (`sam/preprocess.py`)."""

import numpy as np

from eigjax.models.configs import ModelConfig
from eigjax.models.resample import longest_side_shape


def longest_side_minmax(image: np.ndarray, config: ModelConfig) -> np.ndarray:
    """The longest side resized to image_size (cv2.INTER_AREA on uint8), min-max to
    [0, 1], zero-padded bottom/right."""
    import cv2  # Imported here: only LiteMedSAM and SAM-Med2D need it.

    size = config.image_size
    h, w = longest_side_shape(*image.shape[:2], size)
    # PIL has no equivalent: its BOX filter differs from INTER_AREA by up to 54 grey
    # levels on non-integer scales.
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    lo, hi = resized.min(), resized.max()
    x = ((resized - lo) / np.clip(hi - lo, 1e-8, None)).astype(np.float32)
    return np.pad(x, ((0, size - h), (0, size - w), (0, 0)))
