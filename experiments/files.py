"""JSON files written whole or not at all.

`write_json` writes a temporary name in the same folder (`<path>.tmp-<pid>-<thread>`),
syncs it to disk and renames it over `path`: a kill or a power cut at any moment leaves
the old file or the new one, never half of one. Readers skip the temporary names.
"""

import json
import os
import threading


def write_json(path: str, data, indent: int | None = 2, sort_keys: bool = False) -> None:
    """`data` as JSON at `path` (its folder created), atomically."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=indent, sort_keys=sort_keys)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
