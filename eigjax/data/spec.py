"""Dataset specs as the study's `--dataset` flag writes them, and the samples they name.

  bundled                      the real samples shipped in `eigjax/samples` (SA-Med2D layout)
  sa_med2d:ROOT                the SA-Med2D-20M layout (`sa_med2d.py`)
  folder:ROOT                  ROOT/images + ROOT/masks pairs (`folder.py`)
  coco:ANNOTATIONS:IMAGES      COCO instances through pycocotools (`coco.py`)
  nifti:IMAGES:LABELS[:OPTS]   NIfTI image and label volumes, cut in slices (`nifti.py`)
  tfds:NAME[:SPLIT]            a prepared tfds dataset, read by index (`tfds_source.py`;
                               `eigjax-prepare` makes one from any above)

A dataset's identity is its kind, its resolved (absolute, symlink-free) paths and its
options: two folders with the same base name are two datasets.
"""

import dataclasses
import importlib.resources
import os
from collections.abc import Iterator, Sequence

from eigjax.data import coco, folder, nifti, sa_med2d
from eigjax.data.images import DataError, Sample, SampleRef

KINDS = ("bundled", "sa_med2d", "folder", "coco", "nifti", "tfds")
FORMS = {
    "sa_med2d": "sa_med2d:ROOT",
    "folder": "folder:ROOT",
    "coco": "coco:ANNOTATIONS:IMAGES",
    "nifti": "nifti:IMAGES:LABELS[:KEY=VALUE,...]",
    "tfds": "tfds:NAME[:SPLIT]",
}


def bundled_root() -> str:
    """The bundled samples' directory (SA-Med2D layout)."""
    return str(importlib.resources.files("eigjax") / "samples")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    kind: str  # one of KINDS
    paths: tuple[str, ...]  # resolved: (root,), (annotations, images), (images, labels)
    options: tuple[tuple[str, str], ...] = ()  # nifti's settings; tfds: (("split", S),)

    @property
    def name(self) -> str:
        """A short display name, e.g. "folder:pairs" (not unique: see `identity`)."""
        if self.kind == "bundled":
            return "bundled"
        if self.kind == "tfds":  # paths[0] is NAME/VERSION.
            return f"tfds:{os.path.basename(os.path.dirname(self.paths[0]))}"
        return f"{self.kind}:{os.path.basename(self.paths[0])}"

    @property
    def identity(self) -> dict:
        identity = {"kind": self.kind, "paths": list(self.paths)}
        return {**identity, "options": dict(self.options)} if self.options else identity


def parse(spec: str) -> DatasetSpec:
    """`--dataset` text → DatasetSpec with resolved paths; DataError when malformed."""
    kind, _, rest = spec.partition(":")
    if kind not in KINDS:
        raise DataError(f"--dataset={spec}: unknown kind {kind!r}; valid: {list(KINDS)}")
    if kind == "bundled":
        if rest:
            raise DataError(f"--dataset={spec}: 'bundled' takes no path")
        return DatasetSpec("bundled", (os.path.realpath(bundled_root()),))
    parts = rest.split(":")
    counts = {"coco": (2,), "nifti": (2, 3), "tfds": (1, 2)}.get(kind, (1,))
    if len(parts) not in counts or not all(parts):
        raise DataError(f"--dataset={spec}: expected {FORMS[kind]}")
    if kind == "tfds":
        from eigjax.data import tfds_source  # tfds is imported only for this kind.

        split = parts[1] if len(parts) == 2 else "train"
        return DatasetSpec(kind, (tfds_source.version_dir(parts[0]),), (("split", split),))
    options = ()
    if kind == "nifti" and len(parts) == 3:
        pairs = [o.partition("=") for o in parts.pop().split(",")]
        if not all(k and eq for k, eq, _ in pairs):
            raise DataError(f"--dataset={spec}: options are KEY=VALUE, comma-separated")
        options = tuple((k, v) for k, _, v in pairs)
        nifti.settings(dict(options), f"--dataset={spec}")
    return DatasetSpec(kind, tuple(os.path.realpath(p) for p in parts), options)


def index(
    spec: DatasetSpec,
    num_images: int = 0,
    seed: int = 0,
    sub_datasets: Sequence[str] = (),
    labels: Sequence[str] = (),
    categories: Sequence[str] = ("person",),
) -> Sequence[SampleRef]:
    """The spec's samples (the first `num_images`, 0 = all), from its index alone: no image
    is read. Each sample's group is its sub-dataset, COCO category, or the dataset's name.
    Sample ids are unique (records are keyed by them): DataError naming both files else."""
    if spec.kind == "tfds":
        return _prepared(spec, num_images, sub_datasets, labels)
    if spec.kind in ("bundled", "sa_med2d"):  # The bundled samples are in this layout too.
        refs = sa_med2d.index(spec.paths[0], datasets=sub_datasets or None, labels=labels or None)
    elif spec.kind == "folder":
        refs = folder.index(spec.paths[0])
    elif spec.kind == "nifti":
        refs = nifti.index(spec.paths[0], spec.paths[1], dict(spec.options))
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


def _prepared(spec: DatasetSpec, num_images: int, sub_datasets, labels) -> Sequence[SampleRef]:
    """A prepared dataset's samples, lazily (its ids were checked unique when prepared)."""
    from eigjax.data import tfds_source

    if sub_datasets or labels:
        raise DataError(
            f"{spec.paths[0]}: a prepared dataset is not filtered when read; prepare it with "
            "--sub_datasets/--labels instead"
        )
    refs = tfds_source.Samples(spec.paths[0], dict(spec.options)["split"])
    return refs[:num_images] if num_images else refs


def samples(*args, **kwargs) -> Iterator[Sample]:
    """The samples of `index(*args, **kwargs)`, read one at a time."""
    for ref in index(*args, **kwargs):
        yield ref.read()
