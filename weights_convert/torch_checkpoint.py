"""Reads a `.pth` checkpoint into {key: float32 numpy array}, refusing unsafe pickles.

`torch.load(weights_only=True)` first. A file that holds other pickled Python objects
(an optimizer, a training config) is refused unless `allow_pickle`; even then nothing in
it is executed: every class outside torch's weights-only allow-list is replaced by an
inert placeholder, so the tensors come through and the foreign objects do not.
"""

import os
import pickle
import types
import zipfile

import numpy as np

WRAPPER_KEYS = ("model", "state_dict")  # {'model': sd, 'optimizer': ...} and the like.


class CheckpointReadError(ValueError):
    """The file cannot be read as a checkpoint; the message is one line naming the file."""


class _Placeholder:
    """Stands for any object the checkpoint pickled beyond tensors; swallows everything."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __call__(self, *args, **kwargs):
        return _Placeholder()


def _inert_pickle_module() -> types.ModuleType:
    """A pickle module whose Unpickler resolves only torch's weights-only allow-list."""
    import torch._weights_only_unpickler as wou

    allowed = wou._get_allowed_globals()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if f"{module}.{name}" in allowed:
                return super().find_class(module, name)
            return _Placeholder

    module = types.ModuleType("eigjax_inert_pickle")
    module.Unpickler = Unpickler
    module.load = lambda f, **kw: Unpickler(f, **kw).load()
    module.__dict__.update({k: getattr(pickle, k) for k in ("UnpicklingError", "HIGHEST_PROTOCOL")})
    return module


def _unwrap(obj, path: str) -> dict:
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointReadError(f"{path}: holds {type(obj).__name__}, not a state_dict")
    return obj


# torch.save(..., _use_new_zipfile_serialization=False) files start with a pickled magic
# number (torch/serialization.py: MAGIC_NUMBER), after the pickle protocol header.
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _is_legacy(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(32)
    return _LEGACY_MAGIC in head


def _check_crcs(path: str) -> None:
    """Every archive member against its zip CRC-32: flipped bytes in tensor data are caught
    here, before conversion, instead of becoming wrong weights."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointReadError(f"{path}: corrupt or truncated checkpoint ({e})") from None
    if bad is not None:
        raise CheckpointReadError(
            f"{path}: corrupt checkpoint: archive member {bad!r} fails its CRC-32 check"
        )


def load_state_dict(path: str, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """Reads a checkpoint's state_dict as float32 arrays, without a `module.` prefix.

    Raises:
      CheckpointReadError: missing, truncated or not a checkpoint; or, without
        `allow_pickle`, one that holds pickled objects beyond tensors.
    """
    import torch

    if not os.path.isfile(path):
        raise CheckpointReadError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        _check_crcs(path)
    elif not _is_legacy(path):
        raise CheckpointReadError(
            f"{path}: not a PyTorch checkpoint (neither a zip archive nor the legacy "
            "torch.save format; truncated or another format)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if not allow_pickle:
            raise CheckpointReadError(
                f"{path}: holds pickled Python objects besides tensors, which weights-only "
                "loading refuses because unpickling can run arbitrary code; pass "
                "--allow_pickle to read its tensors with those objects replaced by inert "
                "placeholders (nothing in the file is executed)"
            ) from e
        try:
            obj = torch.load(
                path, map_location="cpu", weights_only=False, pickle_module=_inert_pickle_module()
            )
        except Exception as e2:
            raise CheckpointReadError(
                f"{path}: unreadable checkpoint ({type(e2).__name__}: {e2})".splitlines()[0]
            ) from e2
    except Exception as e:  # Corrupt archive members, bad records, EOF.
        raise CheckpointReadError(
            f"{path}: corrupt or truncated checkpoint ({type(e).__name__}: {e})".splitlines()[0]
        ) from e

    state = _unwrap(obj, path)
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise CheckpointReadError(f"{path}: a key is {type(key).__name__} {key!r}, not a name")
        name = key.removeprefix("module.")
        if name in arrays:
            raise CheckpointReadError(
                f"{path}: holds both {name!r} and 'module.{name}': which one is meant is ambiguous"
            )
        arrays[name] = _array(path, key, value)
    return arrays


def _array(path: str, key: str, value) -> np.ndarray:
    """A state_dict entry as a numpy array (float32 for a float tensor); CheckpointReadError
    for an entry that is not a tensor, or one declaring more values than it holds."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise CheckpointReadError(f"{path}: entry {key!r} is {type(value).__name__}, not a tensor")
    held = value.untyped_storage().nbytes()
    if value.numel() * value.element_size() > held:  # Before anything is materialised.
        raise CheckpointReadError(
            f"{path}: entry {key!r} declares shape {tuple(value.shape)}, more values than "
            f"the {held} bytes it holds (a stride of 0?): not a weight tensor"
        )
    value = value.detach().cpu()
    if value.is_floating_point():
        value = value.float()  # Also makes bf16/fp16 checkpoints readable by numpy.
    return value.numpy()
