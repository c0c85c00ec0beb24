"""The SA-Med2D-20M layout: ROOT/images/, ROOT/masks/ and a JSON index in either form.

  image2label*.json   {"<dir>/images/a.png": ["<dir>/masks/a_liver_000.png", ...], ...}
  label2image*.json   {"<dir>/masks/a_liver_000.png": "<dir>/images/a.png", ...}

Paths in the index are relative to the JSON's folder or to its parent (both forms occur),
and must lie inside it: an entry that resolves outside (`../`, an absolute path, a link
out) is refused, naming the index and the entry.
A mask's label is its file name without the image stem and the instance index
(`a_liver_000.png` → `liver`), or the entry of a class-mapping JSON {mask file: label}.
A sample's sub-dataset is the second `--` field of the image name
(`ct_00--FLARE--case--x_001.png` → `FLARE`) or, without `--`, its prefix before `_`.
"""

import dataclasses
import functools
import glob
import json
import os
import re
from collections.abc import Sequence

from eigjax.data.images import DataError, Sample, SampleRef, inside, read_image, read_mask


@dataclasses.dataclass(frozen=True)
class Entry:
    image: str  # absolute paths
    mask: str
    dataset: str
    label: str

    @property
    def id(self) -> str:
        return os.path.splitext(os.path.basename(self.mask))[0]


def dataset_of(image_path: str) -> str:
    stem = os.path.splitext(os.path.basename(image_path))[0]
    return stem.split("--")[1] if "--" in stem else stem.split("_")[0]


def label_of(mask_path: str, image_path: str, mapping: dict[str, str] | None = None) -> str:
    name = os.path.basename(mask_path)
    if mapping is not None and name in mapping:
        return mapping[name]
    image_stem = os.path.splitext(os.path.basename(image_path))[0]
    stem = os.path.splitext(name)[0]
    rest = stem[len(image_stem) + 1 :] if stem.startswith(image_stem + "_") else stem
    return re.sub(r"_\d+$", "", rest)


def _load_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: unreadable ({e})") from None


def find_index(root: str) -> str:
    """The index JSON of ROOT (image2label* preferred over label2image*)."""
    for pattern in ("image2label*.json", "label2image*.json"):
        found = sorted(glob.glob(os.path.join(root, pattern)))
        if found:
            return found[0]
    raise DataError(f"{root}: no image2label*.json or label2image*.json index")


def _pairs(index_path: str) -> list[tuple[str, str]]:
    data = _load_json(index_path)
    if not isinstance(data, dict) or not data:
        raise DataError(f"{index_path}: expected a non-empty JSON object")
    first = next(iter(data.values()))
    if isinstance(first, list):  # image → [masks]
        pairs = [(img, m) for img, masks in data.items() for m in _listed(masks)]
    elif isinstance(first, str):  # mask → image
        pairs = [(img, m) for m, img in data.items()]
    else:
        raise DataError(f"{index_path}: values must be mask lists or image paths")
    bad = next((p for p in pairs if not all(isinstance(x, str) and x for x in p)), None)
    if bad is not None:
        raise DataError(f"{index_path}: entry {bad!r}: expected an image path and a mask path")
    return pairs


def _listed(masks) -> list:
    return masks if isinstance(masks, list) else [None]  # Not a list: a malformed entry.


def _resolve(index_path: str, pairs: list[tuple[str, str]]) -> str:
    here = os.path.dirname(os.path.abspath(index_path))
    for base in (here, os.path.dirname(here)):
        if os.path.exists(os.path.join(base, pairs[0][0])):
            return base
    raise DataError(
        f"{index_path}: its paths (e.g. {pairs[0][0]}) exist neither under {here} "
        f"nor under {os.path.dirname(here)}"
    )


def entries(
    root: str,
    datasets: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    index: str | None = None,
    class_mapping: str | None = None,
) -> list[Entry]:
    """The (image, mask) entries of ROOT, filtered by sub-dataset and label names."""
    index = index or find_index(root)
    pairs = _pairs(index)
    base = _resolve(index, pairs)
    mapping = _load_json(class_mapping) if class_mapping else None
    found = [
        Entry(
            inside(base, img, f"{index}: entry {img!r}"),
            inside(base, m, f"{index}: entry {m!r}"),
            dataset_of(img),
            label_of(m, img, mapping),
        )
        for img, m in sorted(pairs, key=lambda p: p[1])
    ]
    for what, wanted, field in (("sub-dataset", datasets, "dataset"), ("label", labels, "label")):
        if wanted:
            valid = sorted({getattr(e, field) for e in found})
            unknown = sorted(set(wanted) - set(valid))
            if unknown:
                raise DataError(f"{index}: unknown {what} {unknown}; valid: {valid}")
            found = [e for e in found if getattr(e, field) in set(wanted)]
    return found


def index(root: str, **filters) -> list[SampleRef]:
    """A `SampleRef` per entry of `entries(root, **filters)` (nothing read yet)."""
    return [
        SampleRef(
            e.id,
            {"dataset": e.dataset, "label": e.label, "image": e.image, "mask": e.mask},
            e.image,
            functools.partial(_read, e),
        )
        for e in entries(root, **filters)
    ]


def _read(e: Entry) -> Sample:
    image = read_image(e.image)
    return Sample(image, read_mask(e.mask, image.shape, e.image), e.id)
