"""Ground truth in a model's low-res frame, where the training losses are computed."""

import numpy as np
from PIL import Image

from eigjax.models import configs, transforms


def low_res_target(mask: np.ndarray, config: configs.ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """A mask bool [H, W] → (gt, region) bool [r, r] in `config`'s low-res frame.

    The mask goes where the image goes in preprocessing (resized to the input size, padded
    bottom-right to the square input), then each r × r cell takes the majority of its
    input pixels; `region` marks the cells of real image pixels (not padding).
    """
    size, r = config.image_size, config.low_res_size
    h, w = transforms.input_size(mask.shape, config)
    resized = Image.fromarray(mask.astype(np.float32)).resize((w, h), Image.BILINEAR)
    full = np.zeros((size, size), np.float32)
    full[:h, :w] = np.asarray(resized)
    inside = np.zeros((size, size), np.float32)
    inside[:h, :w] = 1
    s = size // r

    def cells(a):
        return a.reshape(r, s, r, s).mean((1, 3))

    region = cells(inside) > 0.5
    return (cells(full) > 0.5) & region, region
