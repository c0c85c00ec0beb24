"""Each image's state in a labelling pass: to do, done or skipped, kept in
WORKDIR/status.json {"images": [{"image", "source", "status"}, …]} (an image keyed as its
objects are: its name and its file), written whole under a temporary name and renamed."""

import json
import os
import threading

from experiments import files
from experiments.web.annotations import Key

STATUSES = ("todo", "done", "skipped")
FILE = "status.json"


class ImageStatus:
    """Status by image key; "todo" for an image never marked."""

    def __init__(self, workdir: str):
        self._path = os.path.join(workdir, FILE)
        self._lock = threading.Lock()
        self._status: dict[Key, str] = {}
        if os.path.exists(self._path):
            with open(self._path) as f:
                kept = json.load(f)["images"]
            self._status = {(i["image"], i["source"]): i["status"] for i in kept}

    def get(self, key: Key) -> str:
        return self._status.get(key, "todo")

    def set(self, key: Key, status: str) -> None:
        """Marks the image (ValueError for a status not in STATUSES); written, then held."""
        if status not in STATUSES:
            raise ValueError(f"status: one of {list(STATUSES)}, got {str(status)[:40]!r}")
        with self._lock:
            status_by_key = {**self._status, key: status}
            marked = [
                {"image": k[0], "source": k[1], "status": v}
                for k, v in status_by_key.items()
                if v != "todo"
            ]
            files.write_json(self._path, {"images": marked})
            self._status = status_by_key
