"""A plain folder of image/mask pairs: ROOT/images/<name>.<ext> and ROOT/masks/<name>.<ext>.

Pairs are matched by file stem; an image without a mask (or the reverse) is an error
naming it. Sample ids are the stems.
"""

import functools
import os

from eigjax.data.images import DataError, Sample, SampleRef, read_image, read_mask

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _by_stem(directory: str) -> dict[str, str]:
    if not os.path.isdir(directory):
        raise DataError(f"{directory}: no such directory")
    files = sorted(f for f in os.listdir(directory) if f.lower().endswith(IMAGE_EXTENSIONS))
    by_stem: dict[str, str] = {}
    for f in files:
        stem, path = os.path.splitext(f)[0], os.path.join(directory, f)
        if stem in by_stem:
            raise DataError(f"{by_stem[stem]} and {path}: one name, two files; keep one")
        by_stem[stem] = path
    return by_stem


def pairs(root: str) -> list[tuple[str, str, str]]:
    """Sorted (id, image path, mask path) of the folder."""
    images = _by_stem(os.path.join(root, "images"))
    masks = _by_stem(os.path.join(root, "masks"))
    unmatched = sorted(set(images) ^ set(masks))
    if unmatched:
        name = unmatched[0]
        where = images.get(name) or masks.get(name)
        raise DataError(
            f"{where}: no matching {'mask' if name in images else 'image'} "
            f"in {root} ({len(unmatched)} unmatched files)"
        )
    return [(stem, images[stem], masks[stem]) for stem in sorted(images)]


def index(root: str) -> list[SampleRef]:
    """A `SampleRef` per pair (nothing read yet)."""
    return [
        SampleRef(
            stem, {"image": image, "mask": mask}, image, functools.partial(_read, stem, image, mask)
        )
        for stem, image, mask in pairs(root)
    ]


def _read(stem: str, image_path: str, mask_path: str) -> Sample:
    image = read_image(image_path)
    return Sample(image, read_mask(mask_path, image.shape, image_path), stem)
