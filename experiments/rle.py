"""Masks as COCO's compressed RLE ({"size": [H, W], "counts": str}, JSON-ready), by
pycocotools' encoder: the one form the study's records and the saved objects share."""

import numpy as np
import pycocotools.mask as mask_utils


def encode(mask: np.ndarray) -> dict:
    """bool [H, W] → COCO's compressed RLE with a str "counts" (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask, np.uint8))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode(rle: dict) -> np.ndarray:
    """COCO RLE (str or bytes "counts") → bool [H, W]."""
    counts = rle["counts"]
    raw = {"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts}
    return mask_utils.decode(raw).astype(bool)
