"""Image embeddings on disk, so that a revisit, a restart or a second run embeds nothing.

  DIR/<model>-<weights fingerprint[:16]>/<image hash[:32]>.npz

keyed by the weights (not the model's name alone: other weights, other embeddings) and by
the image's pixels (not its file name: a replaced file is a new image). An entry holds
the pixel hash it was computed from and is checked when read: a damaged, truncated or
misplaced entry is dropped and computed again, with a warning naming it. Entries are
written to a temporary name and renamed, so a crash leaves no half entry. With a size
bound, the least recently used entries go first, and an entry larger than the bound is
not kept. A folder that cannot be written (a full disk, no permission) is never a reason
to fail: the cache warns once and the work goes on without it.
"""

import contextlib
import hashlib
import os
import threading
import warnings
import zipfile
import zlib

import numpy as np

from eigjax.models import Embedding, Model
from experiments import files


def image_hash(image: np.ndarray) -> str:
    """SHA-256 of an image's shape, dtype and pixels."""
    h = hashlib.sha256(f"{image.shape}{image.dtype}".encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def _size(arrays: dict[str, np.ndarray]) -> int:
    """Bytes an entry of `arrays` takes on disk, about."""
    return sum(a.nbytes for a in arrays.values())


def model_key(name: str, fingerprint: str) -> str:
    """The cache's folder for a model's weights."""
    return f"{name}-{fingerprint[:16]}"


HASH = "image_hash"  # The entry's own record of the pixels it was computed from.
# What reading a damaged entry raises (a cut zip, a bad CRC, a missing array).
DAMAGED = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class EmbeddingCache:
    """Embeddings under `directory`, at most `max_bytes` of them (0: no bound)."""

    def __init__(self, directory: str, max_bytes: int = 0):
        self.directory = directory
        self.max_bytes = max_bytes
        self.hits = self.misses = 0
        self.writable = True
        self._lock = threading.Lock()  # Eviction scans the folder: one at a time.
        try:
            with files.atomic(os.path.join(directory, ".probe")) as tmp, open(tmp, "w"):
                pass
            os.remove(os.path.join(directory, ".probe"))
        except OSError as e:
            self._unwritable(e)

    def arrays(self, key: str, model: Model, image: np.ndarray) -> dict[str, np.ndarray]:
        """{"features", and SAM 2's "s0", "s1"} float32 arrays of `image` under the weights
        `key` (`model_key`), read from the cache or computed by `model` and written."""
        digest = image_hash(image)
        path = os.path.join(self.directory, key, digest[:32] + ".npz")
        arrays = self._read(path, digest)
        if arrays is not None:
            self.hits += 1
            return arrays
        self.misses += 1
        arrays = model.embed(image).arrays()
        if self.writable and not (self.max_bytes and _size(arrays) > self.max_bytes):
            try:
                with files.atomic(path, suffix=".npz") as tmp:
                    np.savez(tmp, **arrays, **{HASH: np.array(digest)})
                self._bound(keep=path)
            except OSError as e:
                self._unwritable(e)
        return arrays

    def _read(self, path: str, digest: str) -> dict[str, np.ndarray] | None:
        """The entry at `path` if it is whole and of the pixels `digest`; a damaged or
        misplaced one is dropped, with a warning."""
        if not os.path.exists(path):
            return None
        try:
            with np.load(path) as z:
                arrays = dict(z)
            if str(arrays.pop(HASH)) != digest:
                raise ValueError("computed from other pixels")
            if "features" not in arrays:
                raise KeyError("features")
        except DAMAGED as e:
            warnings.warn(f"{path}: a damaged embedding entry ({e}); computed again", stacklevel=3)
            with contextlib.suppress(OSError):
                os.remove(path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # Recently used: evicted last.
        return arrays

    def _unwritable(self, error: OSError) -> None:
        """The folder cannot be written: one warning, then work without writing."""
        if self.writable:
            warnings.warn(
                f"{self.directory}: the embedding cache cannot be written "
                f"({files.os_error(error)}); working without it",
                stacklevel=3,
            )
        self.writable = False

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
