"""Saved objects: what a person labels with the web page, kept on disk under `--workdir`.

  WORKDIR/annotations.lock                 held (flock) by the one server writing here
  WORKDIR/objects/<hash of the image name>.json
      {"image": name, "objects": [{"id", "label", "mask" (COCO RLE), "area", "bbox",
        "prompts": {"clicks", "box"}, "model", "weights", "settings", "created",
        "updated"}, ...]}

Each change rewrites its image's file under a temporary name and renames it, so a crash
or a kill at any moment leaves every saved object readable.
"""

import copy
import hashlib
import json
import os
import threading
import time
import uuid

from eigjax.data import DataError
from experiments import files

MAX_LABEL = 64
DEFAULT_LABEL = "object"


class UnknownObject(KeyError):
    """No saved object of that id on that image."""


def check_label(label) -> str:
    """A label as given, stripped; ValueError unless 1–64 printable characters."""
    if not isinstance(label, str):
        raise ValueError(f"label: expected text, got {type(label).__name__}")
    label = label.strip()
    if not 1 <= len(label) <= MAX_LABEL or not label.isprintable():
        raise ValueError(f"label: 1 to {MAX_LABEL} printable characters, got {label[:80]!r}")
    return label


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class AnnotationStore:
    """Objects by image name; one writer per workdir (a second gets `WorkdirBusy`)."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.dir = os.path.join(workdir, "objects")
        os.makedirs(self.dir, exist_ok=True)
        lock = os.path.join(workdir, "annotations.lock")
        self._fd = files.lock(lock, f"{workdir}: its annotations are")
        self._lock = threading.Lock()
        self._objects = self._read()

    def close(self) -> None:
        """Releases the workdir (also released when the process ends, however it ends)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # Reads.
    def objects(self, image: str) -> list[dict]:
        """The image's objects in the order saved (copies)."""
        with self._lock:
            return copy.deepcopy(self._objects.get(image, []))

    def all(self) -> dict[str, list[dict]]:
        """Image name → its objects (copies), images with objects only."""
        with self._lock:
            return copy.deepcopy(self._objects)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: len(objs) for name, objs in self._objects.items()}

    def find(self, image: str, object_id) -> dict:
        """The object (a copy); UnknownObject if the image has none of that id."""
        with self._lock:
            return copy.deepcopy(self._find(image, object_id))

    # Changes.
    def add(self, image: str, fields: dict) -> dict:
        """Saves a new object of `image` from `fields` (all but id and times)."""
        now = _now()
        obj = {"id": uuid.uuid4().hex[:12], **fields, "created": now, "updated": now}
        with self._lock:
            self._objects.setdefault(image, []).append(obj)
            self._write(image)
            return copy.deepcopy(obj)

    def update(self, image: str, object_id, fields: dict) -> dict:
        """Replaces `fields` of an object (its prompts and mask, or its label)."""
        with self._lock:
            obj = self._find(image, object_id)
            obj.update(fields, updated=_now())
            self._write(image)
            return copy.deepcopy(obj)

    def delete(self, image: str, object_id) -> None:
        with self._lock:
            obj = self._find(image, object_id)
            self._objects[image].remove(obj)
            if not self._objects[image]:
                del self._objects[image]
            self._write(image)

    # Files.
    def _find(self, image: str, object_id) -> dict:
        for obj in self._objects.get(image, []):
            if obj["id"] == object_id:
                return obj
        raise UnknownObject(f"image {image!r} has no saved object {str(object_id)[:40]!r}")

    def _path(self, image: str) -> str:
        return os.path.join(self.dir, hashlib.sha256(image.encode()).hexdigest()[:24] + ".json")

    def _write(self, image: str) -> None:
        path = self._path(image)
        objs = self._objects.get(image)
        if not objs:
            if os.path.exists(path):
                os.remove(path)
            return
        files.write_json(path, {"image": image, "objects": objs}, indent=None)

    def _read(self) -> dict[str, list[dict]]:
        """Every saved file; DataError naming a damaged one (nothing is overwritten)."""
        out = {}
        for name in sorted(os.listdir(self.dir)):
            path = os.path.join(self.dir, name)
            if ".tmp-" in name:  # A write cut short: its previous version is intact.
                os.remove(path)
                continue
            try:
                with open(path) as f:
                    data = json.load(f)
                image, objs = data["image"], data["objects"]
                if not isinstance(image, str) or not isinstance(objs, list):
                    raise ValueError("image and objects of the wrong types")
                if any(not isinstance(o, dict) or "id" not in o for o in objs):
                    raise ValueError("an object without an id")
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise DataError(
                    f"{path}: not a saved-objects file ({e}); move it out of the workdir"
                ) from None
            out[image] = objs
        return out
