"""The images a web page may show: a dataset with its masks, or a folder of bare images.

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
    width: int  # At start; `describe` reads the file's size now.
    height: int
    has_mask: bool
    source: str  # The image file (or the sample id): images sharing it share an embedding.
    load: Callable[[], tuple[np.ndarray, np.ndarray | None]]  # uint8 [H, W, 3], bool [H, W]
    file_name: str = ""  # The image's file name as the user has it ("": `name`).

    def describe(self) -> dict:
        width, height = (self.width, self.height)
        if os.path.isfile(self.source):
            width, height = read_size(self.source)
        return {"name": self.name, "width": width, "height": height, "has_mask": self.has_mask}


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
        """The samples of a study `--dataset` spec (`eigjax.data.spec`), read when shown."""
        refs = dataset_spec.index(
            dataset_spec.parse(spec), num_images, 0, sub_datasets, labels, categories
        )
        entries = []
        for ref in refs:
            w, h = ref.size()
            load = functools.partial(_pair, ref)
            name = os.path.basename(ref.image_path)
            entries.append(Entry(ref.id, w, h, True, ref.image_path, load, name))
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
    return Entry(name, w, h, False, path, lambda: (read_image(path), None), file_name)


def _pair(ref) -> tuple[np.ndarray, np.ndarray]:
    sample = ref.read()
    return sample.image, sample.mask
