"""COCO instance masks through pycocotools: by category name, polygons and RLE alike.

Instances are sorted by annotation id, filtered (crowd annotations skipped unless asked,
a minimum area), then `num_instances` are drawn without replacement with a seeded
generator: the same arguments give the same instances in the same order.
"""

import contextlib
import functools
import io
import json
import os
from collections.abc import Sequence

import numpy as np

from eigjax.data.images import DataError, Sample, SampleRef, read_image


def _coco(annotation_file: str):
    from pycocotools.coco import COCO

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress.
            return COCO(annotation_file)
    except json.JSONDecodeError as e:
        raise DataError(f"{annotation_file}: malformed JSON ({e})") from None
    except FileNotFoundError:
        raise DataError(f"{annotation_file}: no such file") from None
    except (KeyError, TypeError, AssertionError) as e:
        raise DataError(f"{annotation_file}: not a COCO annotation file ({e!r})") from None


def _instances(coco, annotation_file: str, categories, min_area: float, include_crowd: bool):
    names = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    unknown = sorted(set(categories) - set(names))
    if unknown:
        raise DataError(f"{annotation_file}: unknown categories {unknown}; valid: {sorted(names)}")
    ids = sorted(coco.getAnnIds(catIds=[names[c] for c in categories], iscrowd=None))
    return [
        a
        for a in coco.loadAnns(ids)
        if (include_crowd or not a.get("iscrowd", 0)) and a.get("area", 0) >= min_area
    ]


def index(
    annotation_file: str,
    images_dir: str,
    categories: Sequence[str],
    num_instances: int | None = None,
    seed: int = 0,
    min_area: float = 0.0,
    include_crowd: bool = False,
) -> list[SampleRef]:
    """A `SampleRef` per drawn instance (the annotations are read; no image is)."""
    coco = _coco(annotation_file)
    anns = _instances(coco, annotation_file, categories, min_area, include_crowd)
    if num_instances is not None and num_instances < len(anns):
        chosen = np.random.default_rng(seed).choice(len(anns), num_instances, replace=False)
        anns = [anns[i] for i in sorted(chosen)]
    by_id = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    refs = []
    for ann in anns:
        info = coco.loadImgs(ann["image_id"])[0]
        path = os.path.join(images_dir, info["file_name"])
        meta = {"category": by_id[ann["category_id"]], "image": path, "image_id": ann["image_id"]}
        read = functools.partial(_read, coco, ann, path, annotation_file)
        refs.append(SampleRef(f"coco-{ann['id']}", meta, path, read))
    return refs


def _read(coco, ann: dict, path: str, annotation_file: str) -> Sample:
    image = read_image(path)
    mask = coco.annToMask(ann).astype(bool)
    if mask.shape != image.shape[:2]:
        raise DataError(
            f"{path}: image is {image.shape[:2]} but annotation {ann['id']} "
            f"in {annotation_file} is {mask.shape}"
        )
    return Sample(image, mask, f"coco-{ann['id']}")
