"""COCO instance masks through pycocotools: by category name, polygons and RLE alike.

Instances are sorted by annotation id, filtered (crowd annotations skipped unless asked,
a minimum area), then `num_instances` are drawn without replacement with a seeded
generator: the same arguments give the same instances in the same order.

Malformed input, as the COCO tools treat it: an annotation whose own mask is unusable (no
segmentation, a polygon of fewer than 3 points: detectron2 drops these) is skipped, and
the skipped are counted in one warning naming the file and the first one. A reference
that cannot be followed (an annotation of an image the file does not list, an image
without its size or file name, a `file_name` outside the images folder) is an error
naming the file and the entry: the file itself is broken.
"""

import contextlib
import functools
import io
import json
import warnings
from collections.abc import Sequence

import numpy as np

from eigjax.data.images import DataError, Sample, SampleRef, inside, read_image


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
    wanted = [
        a
        for a in coco.loadAnns(ids)
        if (include_crowd or not a.get("iscrowd", 0)) and a.get("area", 0) >= min_area
    ]
    skipped = [(a["id"], why) for a in wanted if (why := _unusable(coco, a, annotation_file))]
    if skipped:
        warnings.warn(
            f"{annotation_file}: {len(skipped)} annotations skipped, their masks unusable "
            f"(the first: id {skipped[0][0]}, {skipped[0][1]})",
            stacklevel=3,
        )
    gone = {i for i, _ in skipped}
    return [a for a in wanted if a["id"] not in gone]


def _unusable(coco, ann: dict, annotation_file: str) -> str:
    """Why `ann`'s mask cannot be drawn ('' if it can); DataError when the annotation
    refers to an image the file does not describe."""
    info = coco.imgs.get(ann.get("image_id"))
    where = f"{annotation_file}: annotation {ann.get('id')}"
    if info is None:
        raise DataError(f"{where}: image_id {ann.get('image_id')!r} is not among its images")
    for key in ("height", "width"):
        if not isinstance(info.get(key), int) or info[key] <= 0:
            raise DataError(f"{where}: its image {info.get('id')} has no {key}")
    if not isinstance(info.get("file_name"), str):
        raise DataError(f"{where}: its image {info.get('id')} has no file_name")
    segmentation = ann.get("segmentation")
    if not segmentation:
        return "no segmentation"
    if isinstance(segmentation, list):
        for polygon in segmentation:
            points = len(polygon) // 2 if isinstance(polygon, list) else 0
            if points < 3:
                return f"a polygon of {points} points"
        return ""
    if not isinstance(segmentation, dict) or "counts" not in segmentation:
        return "a segmentation neither polygons nor RLE"
    return ""


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
        where = f"{annotation_file}: image {info['id']}'s file_name"
        path = inside(images_dir, info["file_name"], where)
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
