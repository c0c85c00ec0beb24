"""Images a person uploads through the web page, kept by content under `--workdir`:

  WORKDIR/uploads/<sha256[:16]>.<png|jpg|tif>   the bytes as sent
  WORKDIR/uploads/<sha256[:16]>.json            {"name": the name the page shows,
                                                 "file_name": the uploaded file's name}

The name a client sends is only shown (checked, never a path): files are named by their
content, so nothing outside the folder is read or written, and the same image sent twice
is one image.
"""

import hashlib
import io
import json
import os
import re
import threading

from PIL import Image

from eigjax.data import DataError, read_image
from experiments import files

TYPES = {
    "image/png": ("PNG", ".png"),
    "image/jpeg": ("JPEG", ".jpg"),
    "image/tiff": ("TIFF", ".tif"),
}
# Beyond: refused before decoding. A click costs time and memory in proportion to the
# pixels (benchmarks/upload_limit.py: 6 s and 2.4 GiB at 4096² on 2 CPU cores).
MAX_PIXELS = 4096 * 4096
MAX_NAME = 120


def check_name(name) -> str:
    """An uploaded file's name as the page shows it; ValueError for a path, odd characters
    or a name of another type."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise ValueError(f"name: 1 to {MAX_NAME} characters, got {str(name)[:80]!r}")
    if "/" in name or "\\" in name or ".." in name or not name.isprintable():
        raise ValueError(f"name: a file name, not a path, got {name[:80]!r}")
    if not re.search(r"\.(png|jpe?g|tiff?)$", name, re.IGNORECASE):
        raise ValueError(f"name: a .png, .jpg, .jpeg, .tif or .tiff file, got {name[:80]!r}")
    return name


def check_content(data: bytes, content_type: str) -> None:
    """ValueError unless `data` is an image of `content_type` (one of `TYPES`) of at most
    `MAX_PIXELS` pixels, read from its header."""
    kind = TYPES[content_type][0]
    try:
        with Image.open(io.BytesIO(data)) as im:
            found, (width, height) = im.format, im.size
    except Exception:  # PIL raises many kinds for bytes that are not an image.
        raise ValueError(f"the file is not a readable {kind} image") from None
    if found != kind:
        raise ValueError(f"the file is a {found} image, sent as {content_type}")
    if width * height > MAX_PIXELS:
        raise ValueError(f"the image is {width}×{height}: over {MAX_PIXELS:,} pixels")


class Uploads:
    """The uploads folder: (shown name, file path, uploaded file name) of each upload."""

    def __init__(self, workdir: str):
        self.dir = os.path.join(workdir, "uploads")
        os.makedirs(self.dir, exist_ok=True)
        # One save at a time: simultaneous uploads of one file must agree on its name.
        self._lock = threading.Lock()

    def existing(self) -> list[tuple[str, str, str]]:
        """Every upload kept, in name order (a file without its name file is skipped)."""
        out, files = [], os.listdir(self.dir)
        for meta in sorted(f for f in files if f.endswith(".json")):
            stem = meta[: -len(".json")]
            images = [
                f for f in files if f.startswith(stem + ".") and f != meta and ".tmp" not in f
            ]
            try:
                with open(os.path.join(self.dir, meta)) as f:
                    kept = json.load(f)
                name = check_name(kept["name"])
                file_name = check_name(kept.get("file_name", name))  # Older uploads: none.
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise DataError(f"{os.path.join(self.dir, meta)}: damaged ({e})") from None
            if len(images) == 1:
                out.append((name, os.path.join(self.dir, images[0]), file_name))
        return sorted(out)

    def save(self, name: str, content_type: str, data: bytes) -> tuple[str, str, str]:
        """Keeps `data` (checked by the caller: `check_name`, `check_content`) and returns
        (the name shown: `name` with the content's hash, the file's path, the uploaded file's
        name: the first one, for content uploaded before)."""
        with self._lock:
            digest = hashlib.sha256(data).hexdigest()[:16]
            stem, ext = os.path.splitext(name)
            # The name shown obeys the rule `existing` reads it back with: the stem shortened
            # so that the content's hash fits.
            shown = check_name(f"{stem[: MAX_NAME - len(ext) - 9]}-{digest[:8]}{ext}")
            path = os.path.join(self.dir, digest + TYPES[content_type][1])
            if not os.path.exists(path):
                with files.atomic(path) as tmp:
                    with open(tmp, "wb") as f:
                        f.write(data)
                    try:
                        read_image(tmp)  # Decodes: a truncated file fails here, not when shown.
                    except DataError as e:  # Its reason, without the server's path.
                        raise ValueError(str(e).removeprefix(f"{tmp}: ")) from None
            meta = os.path.join(self.dir, digest + ".json")
            if os.path.exists(meta):
                with open(meta) as f:
                    kept = json.load(f)
                return kept["name"], path, kept.get("file_name", kept["name"])
            files.write_json(meta, {"name": shown, "file_name": name})
            return shown, path, name
