"""Files written whole or not at all: the one atomic writer.

`atomic` gives a temporary name in the same folder (`<path>.tmp-<pid>-<thread>`) and
renames it over `path` when the block ends (removes it when the block raises): a kill at
any moment leaves the old file or the new one, never half of one. Readers skip the
temporary names. `write_json` also syncs its file to disk before the rename.
"""

import contextlib
import json
import os
import threading


@contextlib.contextmanager
def atomic(path: str, suffix: str = ""):
    """Yields the temporary name to write `path` through (its folder created); `suffix`
    ends that name (`np.savez` adds ".npz" to a name without it)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}{suffix}"
    try:
        yield tmp
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)


def write_json(path: str, data, indent: int | None = 2, sort_keys: bool = False) -> None:
    """`data` as JSON at `path` (its folder created), atomically."""
    with atomic(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=indent, sort_keys=sort_keys)
        f.flush()
        os.fsync(f.fileno())
