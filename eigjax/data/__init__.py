"""Datasets as iterators of `Sample`: a plain folder, the SA-Med2D-20M layout, COCO."""

from eigjax.data.images import (
    DataError,
    MissingFile,
    Sample,
    read_image,
    read_mask,
    to_uint8_rgb,
)

__all__ = ["DataError", "MissingFile", "Sample", "read_image", "read_mask", "to_uint8_rgb"]
