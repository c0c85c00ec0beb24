"""Dataset specs as the study's `--dataset` flag writes them, and the samples they name.

  bundled                      the real samples shipped in `eigjax/samples` (SA-Med2D layout)
  sa_med2d:ROOT                the SA-Med2D-20M layout (`sa_med2d.py`)
  folder:ROOT                  ROOT/images + ROOT/masks pairs (`folder.py`)
  coco:ANNOTATIONS:IMAGES      COCO instances through pycocotools (`coco.py`)

A dataset's identity is its kind and its resolved (absolute, symlink-free) paths: two
folders with the same base name are two datasets.
"""

import dataclasses
import importlib.resources
import os
from collections.abc import Iterator, Sequence

from eigjax.data import coco, folder, sa_med2d
from eigjax.data.images import DataError, Sample, SampleRef

KINDS = ("bundled", "sa_med2d", "folder", "coco")


def bundled_root() -> str:
    """The bundled samples' directory (SA-Med2D layout)."""
    return str(importlib.resources.files("eigjax") / "samples")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    kind: str  # one of KINDS
    paths: tuple[str, ...]  # resolved: (root,) or (annotations, images)

    @property
    def name(self) -> str:
        """A short display name, e.g. "folder:pairs" (not unique: see `identity`)."""
        if self.kind == "bundled":
            return "bundled"
        return f"{self.kind}:{os.path.basename(self.paths[0])}"

    @property
    def identity(self) -> dict:
        return {"kind": self.kind, "paths": list(self.paths)}


def parse(spec: str) -> DatasetSpec:
    """`--dataset` text → DatasetSpec with resolved paths; DataError when malformed."""
    kind, _, rest = spec.partition(":")
    if kind not in KINDS:
        raise DataError(f"--dataset={spec}: unknown kind {kind!r}; valid: {list(KINDS)}")
    if kind == "bundled":
        if rest:
            raise DataError(f"--dataset={spec}: 'bundled' takes no path")
        return DatasetSpec("bundled", (os.path.realpath(bundled_root()),))
    parts = rest.split(":") if kind == "coco" else [rest]
    if (kind == "coco" and len(parts) != 2) or not all(parts):
        form = "coco:ANNOTATIONS:IMAGES" if kind == "coco" else f"{kind}:ROOT"
        raise DataError(f"--dataset={spec}: expected {form}")
    return DatasetSpec(kind, tuple(os.path.realpath(p) for p in parts))


def index(
    spec: DatasetSpec,
    num_images: int = 0,
    seed: int = 0,
    sub_datasets: Sequence[str] = (),
    labels: Sequence[str] = (),
    categories: Sequence[str] = ("person",),
) -> list[SampleRef]:
    """The spec's samples (the first `num_images`, 0 = all), from its index alone: no image
    is read. Each sample's group is its sub-dataset, COCO category, or the dataset's name.
    Sample ids are unique (records are keyed by them): DataError naming both files else."""
    if spec.kind in ("bundled", "sa_med2d"):  # The bundled samples are in this layout too.
        refs = sa_med2d.index(spec.paths[0], datasets=sub_datasets or None, labels=labels or None)
    elif spec.kind == "folder":
        refs = folder.index(spec.paths[0])
    else:
        refs = coco.index(spec.paths[0], spec.paths[1], categories, num_images or None, seed)
    refs = refs[:num_images] if num_images else refs
    seen: dict[str, SampleRef] = {}
    for ref in refs:
        ref.meta.setdefault(
            "group", ref.meta.get("dataset") or ref.meta.get("category") or spec.name
        )
        if ref.id in seen:
            first = seen[ref.id]
            raise DataError(
                f"{first.meta.get('mask', first.image_path)} and "
                f"{ref.meta.get('mask', ref.image_path)}: both are sample {ref.id!r} (records "
                "are keyed by it); rename one"
            )
        seen[ref.id] = ref
    return refs


def samples(*args, **kwargs) -> Iterator[Sample]:
    """The samples of `index(*args, **kwargs)`, read one at a time."""
    for ref in index(*args, **kwargs):
        yield ref.read()
