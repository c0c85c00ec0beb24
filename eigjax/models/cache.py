"""Converted params cached by model name, so that `models.load(name)` needs no path.

The cache is `$EIGJAX_CACHE` (before 0.2: `$EIGJAX_HOME`, still read), else the platform's
cache folder (`~/.cache/eigjax` on Linux): `checkpoints/` holds downloaded official
checkpoints, `params/<name>/` their conversions. The first `models.load(name)` of a model
whose checkpoint eigjax can obtain (shipped in an installed package, as LiteMedSAM's; or
hosted by its publisher, downloaded and checked against a pinned hash) converts it once,
atomically; later calls read the cache.

eigjax never imports the converter (it needs torch): the converter registers one function
under the entry-point group `eigjax.converter` (pyproject.toml), called through it here.
"""

import importlib.metadata
import os
import shutil
from collections.abc import Callable

import platformdirs

GROUP = "eigjax.converter"


def cache_dir() -> str:
    """The cache's root folder: `$EIGJAX_CACHE`, `$EIGJAX_HOME` or the platform's."""
    for var in ("EIGJAX_CACHE", "EIGJAX_HOME"):
        if os.environ.get(var):
            return os.environ[var]
    return platformdirs.user_cache_dir("eigjax", appauthor=False)


def params_dir(name: str) -> str:
    """Where `name`'s converted params are cached (they may not be there yet)."""
    return os.path.join(cache_dir(), "params", name)


def _converter() -> Callable[[str, str], None]:
    found = importlib.metadata.entry_points(group=GROUP, name="default")
    if not found:
        raise ImportError(
            "eigjax's converter is not installed (the entry point eigjax.converter is "
            "missing): reinstall eigjax"
        )
    return next(iter(found)).load()


def converted_params(name: str, rebuild: bool = False) -> str:
    """Directory of `name`'s converted params, obtaining and converting its checkpoint
    first if the cache has none (or again, with `rebuild`).

    Args:
      name: a registered model name with weights.
      rebuild: drop the cached conversion and convert again.

    Returns:
      The directory, `params_dir(name)`, holding `model.json` and the params.

    Raises:
      ValueError: `name`'s checkpoint cannot be obtained automatically (the message says
        where to get it and how to convert it).
      ImportError: converting needs torch (`pip install 'eigjax[convert]'`).
    """
    out = params_dir(name)
    if rebuild:
        shutil.rmtree(out, ignore_errors=True)
    if os.path.exists(os.path.join(out, "model.json")):
        return out
    convert = _converter()
    tmp = f"{out}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        convert(name, tmp)
    except ImportError as e:
        raise ImportError(
            f"converting the {name} checkpoint needs torch: pip install 'eigjax[convert]' ({e})"
        ) from e
    finally:
        if not os.path.exists(os.path.join(tmp, "model.json")):
            shutil.rmtree(tmp, ignore_errors=True)
    if not os.path.exists(os.path.join(out, "model.json")):
        shutil.rmtree(out, ignore_errors=True)  # A damaged cache, or none.
    try:
        os.replace(tmp, out)  # Atomic: a half-converted cache is never seen.
    except OSError:  # Another process finished first.
        shutil.rmtree(tmp, ignore_errors=True)
    return out
