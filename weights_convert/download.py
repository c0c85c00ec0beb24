"""Official checkpoints downloaded into the cache with pooch, checked, never half-kept.

A file with a pinned hash (`md5:` or `sha256:`) must match it. A file without one is
trusted on first use: the SHA-256 of its first download is recorded in
`CACHE/checkpoints/pins.json`, said on screen, and every later download of that address
must match it. pooch downloads into a temporary file and moves it into place only when the
hash matches, so a wrong hash, a truncated body or a broken connection caches nothing.

`EIGJAX_CHECKPOINT_MIRROR=URL` fetches every registered file from `URL/<file name>`
instead of its publisher (an institution's mirror; the tests' local server); the hashes
are checked all the same.
"""

import hashlib
import json
import logging
import os
import re
import sys
import urllib.parse

import pooch
import requests

from eigjax.models import cache

PINS = "pins.json"
# pooch logs every download and a hint to pin; this module says what matters itself.
pooch.get_logger().setLevel(logging.WARNING)


class DownloadError(Exception):
    """A checkpoint could not be downloaded, or did not match its hash; nothing cached."""


def checkpoints_dir() -> str:
    return os.path.join(cache.cache_dir(), "checkpoints")


def _pins() -> dict:
    try:
        with open(os.path.join(checkpoints_dir(), PINS)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _pin(url: str, sha256: str) -> None:
    pins = {**_pins(), url: f"sha256:{sha256}"}
    path = os.path.join(checkpoints_dir(), PINS)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(pins, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_name(url: str) -> str:
    """The cache's name for a file at `url`: its last path part, behind a short hash of the
    address (two addresses with one file name never share a cache entry)."""
    base = os.path.basename(urllib.parse.urlparse(url).path) or "checkpoint"
    return f"{hashlib.sha256(url.encode()).hexdigest()[:8]}-{base}"


def fetch(url: str, known_hash: str | None, hash_source: str, file: str | None = None) -> str:
    """The cached local copy of `url`, downloaded first if needed, its hash checked.

    Args:
      url: the publisher's address of the file.
      known_hash: "md5:HEX" or "sha256:HEX" to check it against; None: trust on first use.
      hash_source: where `known_hash` comes from, said when it fails.
      file: the name to cache it under (default: `file_name(url)`).

    Returns:
      The path of the checked file in `CACHE/checkpoints/`.

    Raises:
      DownloadError: in one line, what failed, and what to do by hand.
    """
    mirror = os.environ.get("EIGJAX_CHECKPOINT_MIRROR")
    fname = file or file_name(url)
    source = f"{mirror.rstrip('/')}/{os.path.basename(url)}" if mirror else url
    pinned = known_hash or _pins().get(source)
    target = os.path.join(checkpoints_dir(), fname)
    os.makedirs(checkpoints_dir(), exist_ok=True)
    if not os.path.exists(target):
        print(f"downloading {source} → {target}", file=sys.stderr)
    try:
        path = pooch.retrieve(
            source, pinned, fname=fname, path=checkpoints_dir(), progressbar=sys.stderr.isatty()
        )
    except ValueError:  # pooch: the hash does not match (it deleted the download).
        raise DownloadError(
            f"{source}: the download does not match its pinned hash {pinned} ({hash_source}"
            f"{'' if known_hash else '; recorded at its first download'}); nothing was cached"
        ) from None
    except (requests.RequestException, OSError) as e:
        raise DownloadError(
            f"could not download {source} ({_reason(e)}); nothing was cached. Download it by "
            f"hand and put it at {target}, or convert it with --checkpoint=FILE"
        ) from None
    if pinned is None:
        sha = _sha256(path)
        _pin(source, sha)
        print(
            f"trust on first use: no hash is published for {os.path.basename(url)}; its "
            f"SHA-256 {sha} is recorded in {os.path.join(checkpoints_dir(), PINS)} and every "
            "later download must match it",
            file=sys.stderr,
        )
    return path


def _reason(e: Exception) -> str:
    """What went wrong, in a few words (requests nests the cause in its message)."""
    text = str(e)
    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code}"
    cut = re.search(r"(\d+) bytes read, (\d+) more expected", text)
    if cut:
        got, more = int(cut[1]), int(cut[2])
        return f"the connection ended after {got} of {got + more} bytes"
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        return errno[1].strip()
    return (text.strip().splitlines() or [type(e).__name__])[0][:200]
