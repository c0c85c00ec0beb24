"""Converted params on disk: an orbax checkpoint of `{"params": ...}` plus `model.json`.

Layout of a converted directory:
  DIR/model.json   {"model": "sam_vit_b", "source": "...pth", "format": 1}
  DIR/params/      orbax StandardCheckpointer data
"""

import json
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from eigjax.models import configs
from eigjax.models.sam import abstract_params

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A converted params directory is missing, for another model, or mis-shaped."""


def save(directory: str, model_name: str, params: dict, source: str) -> None:
    """Writes params for `model_name` to `directory` (created; must not hold params yet)."""
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(os.path.join(directory, "params"), {"params": params})
    meta = {"model": model_name, "source": source, "format": FORMAT_VERSION}
    tmp = os.path.join(directory, "model.json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, os.path.join(directory, "model.json"))


def _flat_shapes(tree: Any) -> dict[str, tuple]:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): tuple(leaf.shape) for path, leaf in flat}


def restore(directory: str, config: configs.ModelConfig) -> dict:
    """Reads params for `config` from `directory`, demanding an exact tree and shape match."""
    directory = os.path.abspath(directory)
    meta_path = os.path.join(directory, "model.json")
    if not os.path.exists(meta_path):
        raise CheckpointError(
            f"{directory}: not a converted params directory (no model.json); "
            "convert a .pth with `python -m weights_convert`"
        )
    with open(meta_path) as f:
        meta = json.load(f)
    if meta.get("model") != config.name:
        raise CheckpointError(
            f"{directory}: holds params for {meta.get('model')!r}, not {config.name!r}"
        )
    expected = {"params": abstract_params(config)}
    with ocp.StandardCheckpointer() as ckptr:
        path = os.path.join(directory, "params")
        stored = _flat_shapes(ckptr.metadata(path).item_metadata)
        want = _flat_shapes(expected)
        missing = sorted(set(want) - set(stored))
        unexpected = sorted(set(stored) - set(want))
        misshaped = sorted(k for k in set(want) & set(stored) if want[k] != stored[k])
        if missing or unexpected or misshaped:
            lines = [f"{directory}: params do not match model {config.name!r}"]
            lines += [f"  missing: {k} {want[k]}" for k in missing]
            lines += [f"  unexpected: {k} {stored[k]}" for k in unexpected]
            lines += [
                f"  mis-shaped: {k} stored {stored[k]}, expected {want[k]}" for k in misshaped
            ]
            raise CheckpointError("\n".join(lines))
        restored = ckptr.restore(path, expected)
    return jax.tree_util.tree_map(np.asarray, restored["params"])
