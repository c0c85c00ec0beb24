"""Files written whole or not at all: the one atomic writer.

`atomic` gives a temporary name in the same folder (`<path>.tmp-<pid>-<thread>`) and
renames it over `path` when the block ends (removes it when the block raises): a kill at
any moment leaves the old file or the new one, never half of one. Readers skip the
temporary names. `write_json` also syncs its file to disk before the rename.

`lock` holds a workdir's file for one writer process (the study's records, the page's
annotations): a second writer is refused with the first's pid and host.
"""

import contextlib
import fcntl
import json
import os
import socket
import threading
import time


def os_error(e: OSError) -> str:
    """An OSError as one line: the path and what is wrong with it."""
    where = f"{e.filename}: " if e.filename else ""
    return f"{where}{e.strerror or e}"


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


class WorkdirBusy(RuntimeError):
    """Another live process writes this workdir (its records, its annotations)."""


def lock(path: str, what: str) -> int:
    """Holds `path` (flock) as this process's, its owner written in it; WorkdirBusy
    ("<what> being written by <owner>; ...") while another process holds it. Released when
    the descriptor is closed or the process ends, however it ends."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise WorkdirBusy(
            f"{what} being written by {owner}; wait for it to finish or use another --workdir"
        ) from None
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.ctime()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(owner).encode(), 0)
    return fd
