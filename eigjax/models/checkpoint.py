"""Converted params on disk: an orbax checkpoint of `{"params": ...}` plus `model.json`.

Layout of a converted directory:
  DIR/model.json   {"model": "sam_vit_b", "source": "...pth", "format": 2,
                    "sha256": {"['params']['image_encoder']…": "<hex>", ...}}
  DIR/params/      orbax StandardCheckpointer data

`restore` demands an exact tree and shape match and verifies every array against its
SHA-256 (format 2): a flipped byte anywhere in the data names the broken array instead
of producing NaN logits later. Format 1 directories (no checksums) still load, with a
warning.
"""

import dataclasses
import hashlib
import json
import os
import typing
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp

from eigjax import tree_compare
from eigjax.models import configs
from eigjax.models.network import abstract_params

FORMAT_VERSION = 2
META = "model.json"


class CheckpointError(ValueError):
    """A converted params directory is missing, for another model, mis-shaped or corrupt."""


def array_sha256(array) -> str:
    """SHA-256 of an array's float32 little-endian bytes."""
    return hashlib.sha256(np.ascontiguousarray(array, "<f4").tobytes()).hexdigest()


def checksums(params: dict) -> dict[str, str]:
    """{path: SHA-256} for every array of `{"params": params}`."""
    flat = jax.tree_util.tree_flatten_with_path({"params": params})[0]
    return {jax.tree_util.keystr(path): array_sha256(leaf) for path, leaf in flat}


def check_output(directory: str) -> None:
    """Raises CheckpointError unless `directory` is absent or empty and can be created
    (checked before any work): not a dangling link, not under a file, writable."""
    if os.path.lexists(directory) and not os.path.exists(directory):
        raise CheckpointError(f"{directory}: a symbolic link to nothing; choose another --output")
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise CheckpointError(
            f"{directory}: already exists and is not empty; choose a new --output "
            "or remove it first"
        )
    ancestor = os.path.abspath(directory)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise CheckpointError(f"{directory}: cannot be created under the file {ancestor}")
    if not os.path.exists(directory):  # Created and removed: the only sure test of writing.
        try:
            os.makedirs(directory)
        except OSError as e:
            raise CheckpointError(f"{directory}: cannot be created ({e.strerror})") from None
        created = os.path.abspath(directory)
        while created != ancestor:  # Only what this call made, back up to the ancestor.
            os.rmdir(created)
            created = os.path.dirname(created)


def save(
    directory: str,
    model_name: str,
    params: dict,
    source: str,
    skipped: list[str] = (),
    loop: dict | None = None,
) -> None:
    """Writes params for `model_name` to `directory` (absent or empty), with checksums, the
    names of the checkpoint's tensors the conversion deliberately `skipped`, and for
    trained params the `loop` they were trained with ({"mask_rule", "mask_feedback"}: the
    model's own loop when loaded, `loaded_config`)."""
    directory = os.path.abspath(directory)
    check_output(directory)
    try:
        os.makedirs(directory, exist_ok=True)
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save(os.path.join(directory, "params"), {"params": params})
    except OSError as e:
        raise CheckpointError(f"{directory}: cannot write the params ({e.strerror or e})") from None
    meta = {
        "model": model_name,
        "source": source,
        "format": FORMAT_VERSION,
        "sha256": checksums(params),
        "skipped": list(skipped),
        **({"loop": dict(loop)} if loop else {}),
    }
    tmp = os.path.join(directory, META + ".tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, os.path.join(directory, META))  # Last: a directory with it is complete.


def read_meta(directory: str) -> dict:
    """`model.json` of a converted directory, or a CheckpointError saying what is wrong."""
    path = os.path.join(directory, META)
    if not os.path.exists(path):
        raise CheckpointError(
            f"{directory}: not a converted params directory (no {META}); "
            "convert a .pth with `eigjax-convert`"
        )
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable ({e}); reconvert the checkpoint") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), str):
        raise CheckpointError(f"{path}: expected a JSON object with a 'model' name")
    if meta.get("format") not in (1, FORMAT_VERSION):
        raise CheckpointError(
            f"{path}: format {meta.get('format')!r} is not one this eigjax reads "
            f"(1 or {FORMAT_VERSION}); reconvert the checkpoint"
        )
    return meta


def fingerprint(directory: str) -> str | None:
    """SHA-256 over the directory's per-array checksums: which weights these are (None for
    a format-1 directory, which has none)."""
    meta = read_meta(directory)
    if meta["format"] == 1:
        return None
    text = json.dumps(meta.get("sha256"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def loaded_config(directory: str, config: configs.ModelConfig) -> configs.ModelConfig:
    """`config` with the interactive loop the params in `directory` were trained with
    (`save(loop=...)`), if they name one; CheckpointError for a loop eigjax does not know."""
    loop = read_meta(directory).get("loop")
    if loop is None:
        return config
    known = {
        "mask_rule": typing.get_args(configs.MaskRule),
        "mask_feedback": typing.get_args(configs.MaskFeedback),
    }
    if not isinstance(loop, dict) or any(loop.get(k) not in v for k, v in known.items()):
        raise CheckpointError(
            f"{os.path.join(directory, META)}: 'loop' must give mask_rule in "
            f"{list(known['mask_rule'])} and mask_feedback in {list(known['mask_feedback'])}, "
            f"got {loop!r}"
        )
    return dataclasses.replace(config, **{k: loop[k] for k in known})


def restore(directory: str, config: configs.ModelConfig, require_checksums: bool = False) -> dict:
    """Reads params for `config` from `directory`: exact tree, shapes and checksums.

    A format-1 directory (no checksums) loads with a warning, or fails with
    `require_checksums` (caches that can be rebuilt).
    """
    directory = os.path.abspath(directory)
    meta = read_meta(directory)
    if meta["model"] != config.name:
        raise CheckpointError(
            f"{directory}: holds params for {meta['model']!r}, not {config.name!r}"
        )
    path = os.path.join(directory, "params")
    expected = {"params": abstract_params(config)}
    with ocp.StandardCheckpointer() as ckptr:
        try:
            stored = tree_compare.flat_shapes(ckptr.metadata(path).item_metadata)
        except Exception:  # orbax raises several types for missing/corrupt metadata.
            stored = {}
        if not stored:
            raise CheckpointError(
                f"{path}: orbax metadata missing or unreadable; the directory is incomplete "
                "or damaged: reconvert the checkpoint"
            )
        diff = tree_compare.compare(tree_compare.flat_shapes(expected), stored)
        if diff:
            raise CheckpointError(
                diff.report(f"{directory}: params do not match model {config.name!r}")
            )
        try:
            restored = ckptr.restore(path, expected)
        except Exception as e:
            detail = f"{type(e).__name__}: {e}".splitlines()[0]
            raise CheckpointError(
                f"{path}: params data unreadable ({detail}); the data is corrupt: "
                "reconvert the checkpoint"
            ) from None
    params = jax.tree_util.tree_map(np.asarray, restored["params"])
    _verify(directory, meta, params, require_checksums)
    _check_finite(directory, params)
    return params


def _check_finite(directory: str, params: dict) -> None:
    """Raises CheckpointError naming every array that holds NaN or infinite values."""
    flat = jax.tree_util.tree_flatten_with_path({"params": params})[0]
    bad = [jax.tree_util.keystr(p) for p, leaf in flat if not np.isfinite(leaf).all()]
    if bad:
        raise CheckpointError(
            f"{directory}: {len(bad)} array(s) hold NaN or infinite values: "
            f"{', '.join(bad[:5])}{' and more' if len(bad) > 5 else ''}"
        )


def _verify(directory: str, meta: dict, params: dict, require_checksums: bool) -> None:
    if meta["format"] == 1:
        if require_checksums:
            raise CheckpointError(f"{directory}: converted without checksums (format 1)")
        warnings.warn(
            f"{directory}: converted without checksums (format 1); reconvert to verify it",
            stacklevel=3,
        )
        return
    want = meta.get("sha256") or {}
    got = checksums(params)
    broken = sorted(k for k in got if want.get(k) != got[k])
    if broken:
        listed = ", ".join(broken[:5]) + (f" and {len(broken) - 5} more" if len(broken) > 5 else "")
        raise CheckpointError(
            f"{directory}: {len(broken)} array(s) fail their SHA-256 check (the data is "
            f"corrupt): {listed}; reconvert the checkpoint"
        )
