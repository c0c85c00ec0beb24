"""Saved objects in the formats labelling tools exchange: COCO JSON (masks as RLE, or as
polygons) and a zip of indexed PNGs. Pure functions of the saved objects; no I/O.

An object (`annotations.py`) is a dict with at least "id", "label" and "mask"
(COCO's compressed RLE, `experiments.rle`).
"""

import hashlib
import io
import json
import re
import zipfile

import numpy as np
import pycocotools.mask as mask_utils
from PIL import Image
from scipy import ndimage
from skimage import measure

from experiments import rle

INFO = {"description": "eigjax annotations", "url": "https://github.com/eigjax/eigjax"}
SEGMENTATIONS = ("rle", "polygon")


def polygons(mask: np.ndarray) -> list[list[float]] | None:
    """COCO polygons [[x0, y0, x1, y1, …], …] of bool [H, W] `mask`, one per component:
    scikit-image's marching squares at 0.5 on the zero-padded mask (the boundary between
    inside and outside pixels), in COCO's frame (pixel (r, c) covers [c, c + 1) ×
    [r, r + 1)). pycocotools decodes them back to `mask` exactly. None when the mask has a
    hole: COCO fills every polygon, so a hole cannot be drawn (its RLE is kept instead)."""
    if (ndimage.binary_fill_holes(mask) != mask).any():
        return None
    contours = measure.find_contours(np.pad(mask, 1).astype(np.float32), 0.5)
    # Padded (row, col) → COCO (x, y): -1 for the pad, +0.5 for the pixel's centre.
    return [np.round(np.flip(c - 0.5, 1), 2).ravel().tolist() for c in contours if len(c) >= 3]


def _segmentation(o: dict, segmentation: str):
    """An object's COCO segmentation: its RLE, or its `polygons` (the RLE if it has a hole)."""
    if segmentation == "polygon":
        drawn = polygons(rle.decode(o["mask"]))
        if drawn is not None:
            return drawn
    return o["mask"]


def image_id(name: str) -> int:
    """An image's COCO id, from its name alone (48 bits of its SHA-256): the same in every
    export, whatever else is served."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:12], 16)


def coco(
    images: list[dict],
    objects: dict[str, list[dict]],
    categories: dict[str, int],
    segmentation: str = "rle",
) -> dict:
    """One COCO instances file for the served set.

    Args:
      images: [{"name", "file_name", "width", "height"}] in the served order; each image's
        id is `image_id(name)`.
      objects: image name → its saved objects.
      categories: label → category id (`classes.Classes`); every one is listed.
      segmentation: "rle" (COCO's compressed RLE) or "polygon" (`polygons`; an object with
        a hole stays RLE).
    Returns: {"info", "images", "categories", "annotations"}; each annotation has COCO's
      fields and an "eigjax" field with what made it (object id, label, prompts, strokes,
      model, weights, settings, its predicted IoU and max EIG). `area` and `bbox` are the
      mask's.
    """
    out_images, annotations = [], []
    for image in images:
        ident = image_id(image["name"])
        out_images.append(
            {
                "id": ident,
                "file_name": image["file_name"],
                "width": image["width"],
                "height": image["height"],
            }
        )
        for o in objects.get(image["name"], []):
            coded = {"size": o["mask"]["size"], "counts": o["mask"]["counts"].encode()}
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": ident,
                    "category_id": categories[o["label"]],
                    "segmentation": _segmentation(o, segmentation),
                    "area": int(mask_utils.area(coded)),
                    "bbox": [float(v) for v in mask_utils.toBbox(coded)],
                    "iscrowd": 0,
                    "eigjax": {k: v for k, v in o.items() if k != "mask"},
                }
            )
    listed = sorted(categories.items(), key=lambda item: item[1])
    return {
        "info": INFO,
        "images": out_images,
        "categories": [{"id": i, "name": name} for name, i in listed],
        "annotations": annotations,
    }


def palette() -> list[int]:
    """256 RGB colours: 0 black (background), then well-separated hues."""
    colours = [(0, 0, 0)]
    for i in range(1, 256):
        hue = (i * 0.618033988749895) % 1.0  # Golden-ratio steps: neighbours differ.
        r, g, b = (np.clip(np.abs((hue * 6 + k) % 6 - 3) - 1, 0, 1) for k in (0, 4, 2))
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return [c for rgb in colours for c in rgb]


def indexed_png(masks: list[np.ndarray], height: int, width: int) -> bytes:
    """Object i + 1's pixels as value i + 1 (0: background; a later object covers an
    earlier one where they overlap) → a palette PNG. At most 255 objects."""
    if len(masks) > 255:
        raise ValueError(f"an indexed PNG holds at most 255 objects, got {len(masks)}")
    index = np.zeros((height, width), np.uint8)
    for i, m in enumerate(masks):
        index[m] = i + 1
    image = Image.fromarray(index, mode="P")
    image.putpalette(palette())
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def file_stem(name: str) -> str:
    """An image name as a safe file name stem (no folders, no odd characters)."""
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", name)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"


def png_zip(images: list[dict], objects: dict[str, list[dict]]) -> bytes:
    """A zip of `<image>.png` (`indexed_png`) per image with objects, and `objects.json`
    saying which value is which object: {png name: {"image", "objects": [{"value", "id",
    "label"}]}}."""
    index, buf = {}, io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for image in images:
            objs = objects.get(image["name"], [])
            if not objs:
                continue
            name = file_stem(image["name"]) + ".png"
            while name in index:  # Two names that differ only in odd characters.
                name = name[:-4] + "_.png"
            masks = [rle.decode(o["mask"]) for o in objs]
            z.writestr(name, indexed_png(masks, image["height"], image["width"]))
            index[name] = {
                "image": image["name"],
                "objects": [
                    {"value": i + 1, "id": o["id"], "label": o["label"]} for i, o in enumerate(objs)
                ],
            }
        z.writestr("objects.json", json.dumps(index, indent=1))
    return buf.getvalue()
