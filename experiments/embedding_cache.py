"""Image embeddings on disk, so that a revisit, a restart or a second run embeds nothing.

  DIR/<model>-<weights fingerprint[:16]>/<image hash[:32]>.npz

keyed by the weights (not the model's name alone: other weights, other embeddings) and by
the image's pixels (not its file name: a replaced file is a new image). Entries are
written to a temporary name and renamed, so a crash leaves no half entry; a damaged one is
computed again. With a size bound, the least recently used entries go first.
"""

import hashlib
import os
import threading

import numpy as np

from eigjax.models import Embedding, Model
from experiments import files


def image_hash(image: np.ndarray) -> str:
    """SHA-256 of an image's shape, dtype and pixels."""
    h = hashlib.sha256(f"{image.shape}{image.dtype}".encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def model_key(name: str, fingerprint: str) -> str:
    """The cache's folder for a model's weights."""
    return f"{name}-{fingerprint[:16]}"


class EmbeddingCache:
    """Embeddings under `directory`, at most `max_bytes` of them (0: no bound)."""

    def __init__(self, directory: str, max_bytes: int = 0):
        self.directory = directory
        self.max_bytes = max_bytes
        self.hits = self.misses = 0
        self._lock = threading.Lock()  # Eviction scans the folder: one at a time.

    def arrays(self, key: str, model: Model, image: np.ndarray) -> dict[str, np.ndarray]:
        """{"features", and SAM 2's "s0", "s1"} float32 arrays of `image` under the weights
        `key` (`model_key`), read from the cache or computed by `model` and written."""
        folder = os.path.join(self.directory, key)
        path = os.path.join(folder, image_hash(image)[:32] + ".npz")
        if os.path.exists(path):
            try:
                with np.load(path) as z:
                    arrays = dict(z)
                os.utime(path)  # Recently used: evicted last.
                self.hits += 1
                return arrays
            except (OSError, ValueError, EOFError):
                os.remove(path)  # A damaged entry: computed again below.
        self.misses += 1
        arrays = model.embed(image).arrays()
        with files.atomic(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        self._bound(keep=path)
        return arrays

    def embedding(self, key: str, model: Model, image: np.ndarray) -> Embedding:
        """`arrays` as the model's `Embedding` of `image`."""
        return Embedding.from_arrays(self.arrays(key, model, image), image.shape[:2])

    def size(self) -> int:
        """Bytes the entries take."""
        return sum(size for _, size, _ in self._entries())

    def _entries(self) -> list[tuple[float, int, str]]:
        """(last use, bytes, path) of every entry."""
        out = []
        for root, _, names in os.walk(self.directory):
            for name in names:
                if not name.endswith(".npz") or ".tmp-" in name:
                    continue
                path = os.path.join(root, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:  # Evicted meanwhile.
                    continue
                out.append((stat.st_mtime, stat.st_size, path))
        return out

    def _bound(self, keep: str) -> None:
        """Removes the least recently used entries (never `keep`) down to `max_bytes`."""
        if not self.max_bytes:
            return
        with self._lock:
            entries = sorted(self._entries())
            total = sum(size for _, size, _ in entries)
            for _, size, path in entries:
                if total <= self.max_bytes:
                    break
                if path != keep:
                    try:
                        os.remove(path)
                    except FileNotFoundError:
                        pass
                    total -= size
