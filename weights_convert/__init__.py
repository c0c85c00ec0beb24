"""Official `.pth` checkpoints → Flax params saved with orbax (`eigjax.models.load` reads them).

One key map per model family, `weights_convert/<family>.py`, registered in `CONVERTERS` by
the family's name (`eigjax.models.families`); the models it converts are that family's.
"""

import numpy as np

from eigjax.models import checkpoint, families
from eigjax.models.network import abstract_params
from weights_convert import sam, sam2, sam3, sam_med2d, tiny_vit
from weights_convert.keymap import ConversionError, Converter, apply
from weights_convert.torch_checkpoint import CheckpointReadError, load_state_dict

CONVERTERS: dict[str, Converter] = {
    "sam": sam.CONVERTER,
    "sam_med2d": sam_med2d.CONVERTER,
    "tiny_vit": tiny_vit.CONVERTER,
    "sam2": sam2.CONVERTER,
    "sam3": sam3.CONVERTER,
}
# Every model with a converter, by name.
MODELS = sorted(name for name, c in families.CONFIGS.items() if c.family in CONVERTERS)


def converter(model: str) -> Converter:
    """`model`'s family's converter; ValueError for a model without weights to convert."""
    config = families.get_config(model)
    if config.family not in CONVERTERS:
        raise ConversionError(f"{model} has no weights to convert; convertible: {MODELS}")
    return CONVERTERS[config.family]


def _check_family(model: str, state_dict: dict, what: str) -> None:
    """Raises ConversionError in one line when the checkpoint is of another family."""
    matching = [c for c in CONVERTERS.values() if any(k.startswith(c.marker) for k in state_dict)]
    if not matching or converter(model) in matching:
        return
    names = [n for n in MODELS if converter(n) in matching]
    raise ConversionError(
        f"{what}: a {matching[0].title} checkpoint (keys {matching[0].marker}…), not one for "
        f"{model}; convert it as one of {names}"
    )


def convert_state_dict(
    model: str, state_dict: dict[str, np.ndarray], what: str = "checkpoint"
) -> dict:
    """A torch state_dict → the Flax params tree of `model`, strictly (see `keymap.apply`)."""
    config = families.get_config(model)
    _check_family(model, state_dict, what)
    own = converter(model)
    return apply(
        state_dict, own.keymap(config), abstract_params(config), ignored=own.ignored, what=what
    )


def skipped(model: str, state_dict: dict) -> list[str]:
    """The checkpoint's tensors `model` deliberately leaves out (e.g. SAM 2's video-only)."""
    return sorted(k for k in state_dict if converter(model).ignored(k))


def convert(model: str, checkpoint_path: str, output: str, allow_pickle: bool = False) -> dict:
    """Reads `checkpoint_path`, converts it for `model` and saves the params to `output`
    (with the names of the tensors it skipped)."""
    converter(model)  # Unknown names and used outputs fail before any reading.
    checkpoint.check_output(output)
    state_dict = load_state_dict(checkpoint_path, allow_pickle=allow_pickle)
    params = convert_state_dict(model, state_dict, what=checkpoint_path)
    left = skipped(model, state_dict)
    checkpoint.save(output, model, params, source=checkpoint_path, skipped=left)
    return params


__all__ = [
    "CONVERTERS",
    "MODELS",
    "CheckpointReadError",
    "ConversionError",
    "convert",
    "convert_state_dict",
    "skipped",
]
