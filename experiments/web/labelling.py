"""The web page's labelling routes, apart from HTTP (docs/web.md, "Label with it"):

  PATCH  /api/images   {"image", "status": "todo" | "done" | "skipped"}  marks an image
  GET    /api/objects?image=NAME  → {"image", "objects": [object without its mask]}
  POST   /api/objects  {predict's body, "label"?, "id"?}  saves the mask that prompt gives:
                       a new object, or object `id` again (reopened and changed)
  PATCH  /api/objects  {"image", "id", "label"}  renames an object
  DELETE /api/objects  {"image", "id"}
  GET    /api/overlay?image=NAME  the saved objects' outlines (PNG)
  GET    /api/export?format=coco|png[&segmentation=rle|polygon]  every saved object of
                       the served images (COCO: masks as RLE, or polygons)
  POST   /api/upload?name=FILE  the file's bytes, Content-Type image/png, image/jpeg or
                       image/tiff  → the new image's entry (as in GET /api/images)

The mask saved is the one the server computes from the prompt (the page's `/api/predict`
answer for it), never a mask a client sends. Bodies arrive typed (`messages.py`).
"""

import json

import numpy as np

from experiments import rle
from experiments.embedding_cache import image_hash
from experiments.web import export
from experiments.web.annotations import AnnotationStore, Key, UnknownObject, check_label, image_key
from experiments.web.api import Service, outline_rgba, png_bytes
from experiments.web.catalog import Entry, file_entry
from experiments.web.classes import Classes
from experiments.web.image_status import ImageStatus
from experiments.web.messages import (
    ApiError,
    Mark,
    Payload,
    Rename,
    Save,
    Target,
    Upload,
)
from experiments.web.uploads import TYPES, Uploads, check_content, check_name

FILL_ALPHA = 110  # Of a saved object's inside on the page (its outline: opaque), seen on black.
FORMATS = {
    "coco": ("application/json", "annotations.coco.json"),
    "png": ("application/zip", "annotations.png.zip"),
}


def _plain(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def _listed(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k != "mask"}


def _key(entry: Entry) -> Key:
    return image_key(entry.name, entry.source)


def _stale(obj: dict, pixels: str) -> bool:
    """`obj` was saved on other pixels than those of hash `pixels` (an object saved before
    objects kept their image's hash: never)."""
    return obj.get("image_hash", pixels) != pixels


class Labelling:
    """Saved objects, export and upload over a `Service` (its catalog gains the uploads)."""

    def __init__(
        self,
        service: Service,
        store: AnnotationStore,
        max_upload_bytes: int,
        classes: tuple[str, ...] = (),
    ):
        """`classes`: the fixed class names (`classes.parse`), or () for free labels."""
        self.service = service
        self.store = store
        self.classes = Classes(classes, store.workdir, store.labels())
        self.status = ImageStatus(store.workdir)
        self.uploads = Uploads(store.workdir)
        self.max_upload_bytes = max_upload_bytes
        for name, path, file_name in self.uploads.existing():
            service.catalog.add(file_entry(name, path, file_name))

    def images(self) -> list[dict]:
        """GET /api/images: each served image with its number of saved objects and its
        status (todo, done or skipped)."""
        return [self._listed_image(e) for e in self.service.catalog.entries.values()]

    def _listed_image(self, entry: Entry) -> dict:
        key = _key(entry)
        return {
            **entry.describe(),
            "objects": self.store.count(key),
            "status": self.status.get(key),
        }

    def mark(self, mark: Mark) -> dict:
        """PATCH /api/images: the image marked; its entry as GET /api/images lists it."""
        entry = self.service.entry(mark.image)
        try:
            self.status.set(_key(entry), mark.status)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        return self._listed_image(entry)

    def config(self) -> dict:
        """GET /api/config: the service's, and the upload limit."""
        return {
            **self.service.config(),
            "max_upload_bytes": self.max_upload_bytes,
            "classes": self.classes.listing(),
            "fixed_classes": self.classes.fixed,
        }

    def overlay_png(self, image) -> bytes:
        """GET /api/overlay?image=NAME: the saved objects, each in its colour of the PNG
        export's palette (outline opaque, inside faint), on a clear RGBA image; objects
        saved on other pixels than the file's now (`stale`) are not drawn."""
        entry = self.service.entry(image)
        colours = np.reshape(export.palette(), (256, 3))
        pixels = entry.load()[0]
        layer = np.zeros((*pixels.shape[:2], 4), np.uint8)
        for i, obj in enumerate(self._objects(entry, image_hash(pixels))):
            if obj.get("stale"):
                continue
            mask = rle.decode(obj["mask"])
            colour = colours[i % 255 + 1]
            layer[mask] = (*colour, FILL_ALPHA)
            outline = outline_rgba(mask, tuple(colour))
            layer = np.where(outline[..., 3:] > 0, outline, layer)
        return png_bytes(layer)

    def objects(self, image) -> dict:
        """GET /api/objects?image=NAME: its objects (no masks), each flagged `stale` when
        it was saved on other pixels than the image file holds now."""
        entry = self.service.entry(image)
        listed = self._objects(entry, image_hash(entry.load()[0]))
        return {"image": entry.name, "objects": [_listed(o) for o in listed]}

    def _label(self, label) -> str:
        """A label that may be saved (one of the classes, if fixed); its category id given."""
        try:
            label = self.classes.check(check_label(label))
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        self.classes.id_of(label)
        return label

    def save(self, save: Save) -> dict:
        label, object_id = self._label(save.label), save.id
        if object_id is not None:  # Unknown: a 404 before any computation.
            self._known(self.store.find, _key(self.service.entry(save.image)), object_id)
        answer = self.service.feedback(save)  # A Save is a PromptRequest.
        req, fb = answer.request, answer.feedback
        mask = np.asarray(fb.mask, bool)
        if not mask.any():
            raise ApiError(400, "the prompt gives an empty mask: nothing to save")
        fields = {
            "label": label,
            "mask": rle.encode(mask),
            "area": int(mask.sum()),
            "image_size": list(answer.image.shape[:2]),
            "image_hash": image_hash(answer.image),
            "prompts": {
                "clicks": [[_plain(x), _plain(y), int(c)] for x, y, c in req.clicks],
                "box": None if req.box is None else [_plain(v) for v in req.box],
                **({"truth": save.truth} if req.entry.has_mask else {}),
            },
            "strokes": [s.to_json() for s in req.strokes],
            # The model's confidence in its mask (before strokes): its proposed token's
            # predicted IoU, and the most it could still learn from one grid click.
            "predicted_iou": float(fb.predicted_iou[int(fb.token)]),
            "max_eig": float(fb.eig_max),
            "model": req.model,
            "weights": self.service.fingerprints.get(req.model),
            "settings": req.settings.identity(),
        }
        if object_id is None:
            return _listed(self.store.add(_key(req.entry), fields))
        return _listed(self._known(self.store.update, _key(req.entry), object_id, fields))

    def rename(self, rename: Rename) -> dict:
        key, label = _key(self.service.entry(rename.image)), self._label(rename.label)
        return _listed(self._known(self.store.update, key, rename.id, {"label": label}))

    def delete(self, target: Target) -> dict:
        self._known(self.store.delete, _key(self.service.entry(target.image)), target.id)
        return {"deleted": target.id}

    def export(self, fmt, segmentation="rle") -> Payload:
        """Every saved object of the served images, as a download (COCO's segmentations as
        `segmentation`: rle or polygon)."""
        if fmt not in FORMATS:
            raise ApiError(400, f"format: one of {list(FORMATS)}, got {str(fmt)[:40]!r}")
        if segmentation not in export.SEGMENTATIONS:
            valid, got = list(export.SEGMENTATIONS), str(segmentation)[:40]
            raise ApiError(400, f"segmentation: one of {valid}, got {got!r}")
        saved, images, stale = {}, [], []
        for entry in self.service.catalog.entries.values():
            objs = self.store.objects(_key(entry))
            if objs:
                pixels = entry.load()[0]
                (height, width), current = pixels.shape[:2], image_hash(pixels)
                if any(_stale(o, current) for o in objs):
                    stale.append(entry.name)
            else:
                size = entry.describe()
                width, height = size["width"], size["height"]
            saved[entry.name] = objs
            file_name = entry.file_name or entry.name
            images.append({"name": entry.name, "file_name": file_name, "width": width,
                           "height": height})  # fmt: skip
        if stale:
            raise ApiError(
                409,
                f"the files of {len(stale)} images changed since their objects were saved "
                f"({', '.join(stale[:3])}; listed as stale): save those objects again or "
                "delete them, then export",
            )
        if fmt == "coco":
            coco = export.coco(images, saved, dict(self.classes.ids), segmentation)
            data = json.dumps(coco).encode()
        else:
            data = export.png_zip(images, saved)
        content_type, filename = FORMATS[fmt]
        return Payload(content_type, data, filename)

    def check_upload(self, name, content_type: str, length: int) -> None:
        """Before reading an upload's body: ApiError 400 (name), 415 (type), 413 (size)."""
        try:
            check_name(name)
        except ValueError as e:
            raise ApiError(400, str(e)) from None
        if content_type not in TYPES:
            raise ApiError(415, f"upload a PNG, JPEG or TIFF image, not {content_type[:60]!r}")
        if length > self.max_upload_bytes:
            raise ApiError(
                413,
                f"the file is {length / 2**20:.1f} MiB: over the upload limit of "
                f"{self.max_upload_bytes / 2**20:.0f} MiB (--max_upload_mb)",
            )

    def upload(self, upload: Upload) -> dict:
        """Keeps an upload (`check_upload` passed) and serves it; ApiError 400 if the bytes
        are not such an image."""
        try:
            check_content(upload.data, upload.content_type)
            shown, path, file_name = self.uploads.save(
                upload.name, upload.content_type, upload.data
            )
        except ValueError as e:
            raise ApiError(400, f"{upload.name}: {e}") from None
        entry = self.service.catalog.add(file_entry(shown, path, file_name))
        return self._listed_image(entry)

    def _objects(self, entry: Entry, pixels: str) -> list[dict]:
        """The entry's saved objects, each with "stale" (`_stale`) against `pixels`."""
        return [{**o, "stale": _stale(o, pixels)} for o in self.store.objects(_key(entry))]

    @staticmethod
    def _known(change, *args):
        try:
            return change(*args)
        except UnknownObject as e:
            raise ApiError(404, e.args[0]) from None
