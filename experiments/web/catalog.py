"""The images a web page may show: a dataset's images, each with its masks as ground-truth
objects, or a folder of bare images.

Names are the only handle a client has: `Catalog.get` looks a name up in the served set
and never treats it as a path.
"""

import dataclasses
import functools
import os
import threading
from collections.abc import Callable

import numpy as np

from eigjax.data import DataError, folder, read_image
from eigjax.data import spec as dataset_spec
from eigjax.data.images import read_size


@dataclasses.dataclass(frozen=True)
class Entry:
    """A served image: read from its file at each request, so that a file replaced after
    start is seen as it is now (and one deleted is a `MissingFile`)."""

    name: str
    width: int  # At start; `describe` reads an image file's size now.
    height: int
    source: str  # The image file (a volume, or the sample id where there is none).
    # Ground truth k → (uint8 [H, W, 3] pixels, bool [H, W] mask k, or None without truths).
    load: Callable[[int], tuple[np.ndarray, np.ndarray | None]]
    file_name: str = ""  # The image's file name as the user has it ("": `name`).
    truths: tuple[str, ...] = ()  # The ground-truth objects' labels, in `load`'s order.

    @property
    def has_mask(self) -> bool:
        return bool(self.truths)

    def describe(self) -> dict:
        width, height = (self.width, self.height)
        if os.path.isfile(self.source) and self.source.lower().endswith(folder.IMAGE_EXTENSIONS):
            width, height = read_size(self.source)
        return {
            "name": self.name,
            "width": width,
            "height": height,
            "has_mask": self.has_mask,
            "truths": list(self.truths),
        }


class Catalog:
    """Entries by name, in the order given."""

    def __init__(self, entries: list[Entry]):
        if not entries:
            raise DataError("no images to serve")
        self.entries = {e.name: e for e in entries}
        self._lock = threading.Lock()

    def add(self, entry: Entry) -> Entry:
        """Serves `entry` too (an upload); the entry already served under its name if any.
        The dict is replaced, not changed, so a request iterating the old one is safe."""
        with self._lock:
            if entry.name not in self.entries:
                self.entries = {**self.entries, entry.name: entry}
            return self.entries[entry.name]

    def get(self, name) -> Entry:
        """The entry called `name`; KeyError (a client's mistake) naming it otherwise."""
        if not isinstance(name, str) or name not in self.entries:
            raise KeyError(f"unknown image {name!r}: GET /api/images lists the served names")
        return self.entries[name]

    @classmethod
    def from_dataset(
        cls,
        spec: str,
        num_images: int = 0,
        sub_datasets=(),
        labels=(),
        categories=("person",),
    ) -> "Catalog":
        """The images of a study `--dataset` spec's samples (`eigjax.data.spec`; its first
        `num_images` masks), each with its masks as ground truths, read when shown."""
        refs = dataset_spec.index(
            dataset_spec.parse(spec), num_images, 0, sub_datasets, labels, categories
        )
        images: dict[tuple, list] = {}
        for ref in refs:
            # A volume's slices are images of their own.
            images.setdefault((ref.image_path, ref.meta.get("slice")), []).append(ref)
        entries = []
        for name, (key, masks) in zip(image_names(list(images)), images.items(), strict=True):
            w, h = masks[0].size()
            truths = tuple(
                str(r.meta.get("label") or r.meta.get("category") or r.id) for r in masks
            )
            load = functools.partial(_pair, tuple(masks))
            file_name = os.path.basename(key[0])
            entries.append(Entry(name, w, h, key[0], load, file_name, truths))
        return cls(entries)

    @classmethod
    def from_folder(cls, root: str) -> "Catalog":
        """Every image file directly in `root` (no masks), read when first shown."""
        if not os.path.isdir(root):
            raise DataError(f"{root}: no such directory")
        entries = []
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if name.lower().endswith(folder.IMAGE_EXTENSIONS) and os.path.isfile(path):
                entries.append(file_entry(name, path))
        if not entries:
            raise DataError(f"{root}: no image files ({', '.join(folder.IMAGE_EXTENSIONS)})")
        return cls(entries)


def file_entry(name: str, path: str, file_name: str = "") -> Entry:
    """An image file without a mask, served as `name` (exported as `file_name`, default
    `name`)."""
    w, h = read_size(path)
    return Entry(name, w, h, path, lambda truth=0: (read_image(path), None), file_name)


def image_names(keys: list[tuple[str, int | None]]) -> list[str]:
    """Each (image path, slice or None)'s name: the file's name, `:slice` for a volume's,
    or its path below the images' common folder where two files share a name."""

    def named(paths):
        return [p if s is None else f"{p}:{s}" for p, s in zip(paths, slices, strict=True)]

    slices = [s for _, s in keys]
    names = named([os.path.basename(p) for p, _ in keys])
    if len(set(names)) < len(names):
        paths = [p for p, _ in keys]
        root = os.path.commonpath(paths) if len(keys) > 1 else ""
        names = named([os.path.relpath(p, root) if root else p for p in paths])
    return names


def _pair(masks, truth: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The image and its mask `truth` (an index into `masks`, its `SampleRef`s)."""
    sample = masks[truth].read()
    return sample.image, sample.mask
