"""Saved objects: what a person labels with the web page, kept on disk under `--workdir`.

  WORKDIR/annotations.lock                 held (flock) by the one server writing here
  WORKDIR/objects/<hash of the image's key>.json
      {"image": name, "source": the image file's real path, "objects": [{"id", "label",
        "mask" (COCO RLE), "area", "image_size" [H, W], "image_hash" (the pixels' SHA-256),
        "prompts": {"clicks", "box", "truth" (where the image has ground truths)},
        "strokes", "predicted_iou", "max_eig", "model", "weights", "settings", "created",
        "updated"}, ...]}

An image is keyed by its name and its file (`Key`): a second folder served with the same
file names has objects of its own. Each change rewrites its image's file under a
temporary name and renames it, and is held in memory only once that write succeeded: a
crash, a kill or a full disk at any moment leaves every saved object readable, and what
the page lists is what is on disk. (Files written before objects knew their source have
none; they are shown for the image of that name.)
"""

import contextlib
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


Key = tuple[str, str]  # (the image's name, the real path of its file; "" where unknown)


def image_key(name: str, source: str) -> Key:
    """The key of the image served as `name` from the file `source`."""
    return name, os.path.realpath(source) if os.path.exists(source) else source


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
    """Objects by image key; one writer per workdir (a second gets `WorkdirBusy`)."""

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
    def objects(self, key: Key) -> list[dict]:
        """The image's objects in the order saved (copies)."""
        with self._lock:
            return copy.deepcopy(self._objects.get(self._held(key), []))

    def count(self, key: Key) -> int:
        with self._lock:
            return len(self._objects.get(self._held(key), []))

    def labels(self) -> set[str]:
        """Every saved object's label, over all images."""
        with self._lock:
            return {o["label"] for objs in self._objects.values() for o in objs}

    def find(self, key: Key, object_id) -> dict:
        """The object (a copy); UnknownObject if the image has none of that id."""
        with self._lock:
            return copy.deepcopy(self._find(self._held(key), object_id))

    # Changes: each written first, then held.
    def add(self, key: Key, fields: dict) -> dict:
        """Saves a new object of the image from `fields` (all but id and times)."""
        now = _now()
        obj = {"id": uuid.uuid4().hex[:12], **fields, "created": now, "updated": now}
        with self._lock:
            key = self._held(key)
            self._commit(key, [*copy.deepcopy(self._objects.get(key, [])), obj])
            return copy.deepcopy(obj)

    def update(self, key: Key, object_id, fields: dict) -> dict:
        """Replaces `fields` of an object (its prompts and mask, or its label)."""
        with self._lock:
            key = self._held(key)
            objs = copy.deepcopy(self._objects.get(key, []))
            obj = self._find(key, object_id, objs)
            obj.update(fields, updated=_now())
            self._commit(key, objs)
            return copy.deepcopy(obj)

    def delete(self, key: Key, object_id) -> None:
        with self._lock:
            key = self._held(key)
            obj = self._find(key, object_id)
            self._commit(key, [o for o in self._objects[key] if o is not obj])

    # Files.
    def _held(self, key: Key) -> Key:
        """`key`, or the sourceless key of a file written before objects knew their source."""
        legacy = (key[0], "")
        return legacy if key not in self._objects and legacy in self._objects else key

    def _find(self, key: Key, object_id, objs: list[dict] | None = None) -> dict:
        for obj in self._objects.get(key, []) if objs is None else objs:
            if obj["id"] == object_id:
                return obj
        raise UnknownObject(f"image {key[0]!r} has no saved object {str(object_id)[:40]!r}")

    def _path(self, key: Key) -> str:
        text = key[0] if not key[1] else f"{key[0]}\n{key[1]}"
        return os.path.join(self.dir, hashlib.sha256(text.encode()).hexdigest()[:24] + ".json")

    def _commit(self, key: Key, objs: list[dict]) -> None:
        """Writes `objs` as the image's, then holds them (a failed write changes nothing)."""
        path = self._path(key)
        if objs:
            data = {"image": key[0], "source": key[1], "objects": objs}
            files.write_json(path, data, indent=None)
            self._objects[key] = objs
            return
        with contextlib.suppress(FileNotFoundError):  # Gone already: deleted as asked.
            os.remove(path)
        self._objects.pop(key, None)

    def _read(self) -> dict[Key, list[dict]]:
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
                image, source, objs = data["image"], data.get("source", ""), data["objects"]
                if not all(isinstance(v, str) for v in (image, source)) or not isinstance(
                    objs, list
                ):
                    raise ValueError("image, source and objects of the wrong types")
                if any(not isinstance(o, dict) or "id" not in o for o in objs):
                    raise ValueError("an object without an id")
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise DataError(
                    f"{path}: not a saved-objects file ({e}); move it out of the workdir"
                ) from None
            out[image, source] = objs
        return out
