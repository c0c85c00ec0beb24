"""Official `.pth` checkpoints → Flax params saved with orbax (`eigjax.models.load` reads them)."""

from collections.abc import Callable

import numpy as np

from eigjax.models import checkpoint, configs
from eigjax.models.sam import abstract_params
from weights_convert import keymap, sam, sam_med2d, tiny_vit
from weights_convert.keymap import ConversionError
from weights_convert.torch_checkpoint import CheckpointReadError, load_state_dict

# Model name → its family's key map, and the checkpoint keys it may leave unused.
KEYMAPS: dict[str, Callable[[configs.ModelConfig], list[keymap.Entry]]] = {
    "sam_vit_b": sam.keymap,
    "sam_vit_l": sam.keymap,
    "sam_vit_h": sam.keymap,
    "medsam": sam.keymap,
    "sam_med2d": sam_med2d.keymap,
    "litemedsam": tiny_vit.keymap,
}
IGNORED: dict[str, Callable[[str], bool]] = {"litemedsam": tiny_vit.ignored}


def convert_state_dict(
    model: str, state_dict: dict[str, np.ndarray], what: str = "checkpoint"
) -> dict:
    """A torch state_dict → the Flax params tree of `model`, strictly (see `keymap.apply`)."""
    config = configs.get_config(model)
    return keymap.apply(
        state_dict,
        KEYMAPS[model](config),
        abstract_params(config),
        ignored=IGNORED.get(model, lambda key: False),
        what=what,
    )


def convert(model: str, checkpoint_path: str, output: str, allow_pickle: bool = False) -> dict:
    """Reads `checkpoint_path`, converts it for `model` and saves the params to `output`."""
    configs.get_config(model)  # Unknown names and used outputs fail before any reading.
    checkpoint.check_output(output)
    state_dict = load_state_dict(checkpoint_path, allow_pickle=allow_pickle)
    params = convert_state_dict(model, state_dict, what=checkpoint_path)
    checkpoint.save(output, model, params, source=checkpoint_path)
    return params


__all__ = ["KEYMAPS", "CheckpointReadError", "ConversionError", "convert", "convert_state_dict"]
