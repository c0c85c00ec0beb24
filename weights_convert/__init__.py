"""Official `.pth` checkpoints → Flax params saved with orbax (`eigjax.models.load` reads them)."""

from collections.abc import Callable

import numpy as np

from eigjax.models import checkpoint, configs
from eigjax.models.sam import abstract_params
from weights_convert import keymap, sam, sam2, sam_med2d, tiny_vit
from weights_convert.keymap import ConversionError
from weights_convert.torch_checkpoint import CheckpointReadError, load_state_dict

SAM2_MODELS = (
    "sam2.1_hiera_tiny",
    "sam2.1_hiera_small",
    "sam2.1_hiera_base_plus",
    "sam2.1_hiera_large",
    "medsam2",
)
# Model name → its family's key map, and the checkpoint keys it skips (listed, never silent).
KEYMAPS: dict[str, Callable[[configs.ModelConfig], list[keymap.Entry]]] = {
    "sam_vit_b": sam.keymap,
    "sam_vit_l": sam.keymap,
    "sam_vit_h": sam.keymap,
    "medsam": sam.keymap,
    "sam_med2d": sam_med2d.keymap,
    "litemedsam": tiny_vit.keymap,
    "mobile_sam": tiny_vit.keymap,
    **dict.fromkeys(SAM2_MODELS, sam2.keymap),
}
IGNORED: dict[str, Callable[[str], bool]] = {
    "litemedsam": tiny_vit.ignored,
    "mobile_sam": tiny_vit.ignored,
    **dict.fromkeys(SAM2_MODELS, sam2.video_only),
}
# A family by a key only its checkpoints hold: what a wrong --model is told.
FAMILIES = (
    ("SAM 2", "sam_mask_decoder.", SAM2_MODELS),
    (
        "TinyViT (LiteMedSAM, MobileSAM)",
        "image_encoder.patch_embed.seq.",
        ("litemedsam", "mobile_sam"),
    ),
    (
        "SAM (ViT)",
        "image_encoder.blocks.",
        ("sam_vit_b", "sam_vit_l", "sam_vit_h", "medsam", "sam_med2d"),
    ),
)


def _check_family(model: str, state_dict: dict, what: str) -> None:
    """Raises ConversionError in one line when the checkpoint is of another family."""
    for family, marker, names in FAMILIES:
        if any(k.startswith(marker) for k in state_dict) and model not in names:
            raise ConversionError(
                f"{what}: a {family} checkpoint (keys {marker}…), not one for {model}; "
                f"convert it as one of {list(names)}"
            )


def convert_state_dict(
    model: str, state_dict: dict[str, np.ndarray], what: str = "checkpoint"
) -> dict:
    """A torch state_dict → the Flax params tree of `model`, strictly (see `keymap.apply`)."""
    config = configs.get_config(model)
    _check_family(model, state_dict, what)
    return keymap.apply(
        state_dict,
        KEYMAPS[model](config),
        abstract_params(config),
        ignored=IGNORED.get(model, lambda key: False),
        what=what,
    )


def skipped(model: str, state_dict: dict) -> list[str]:
    """The checkpoint's tensors `model` deliberately leaves out (e.g. SAM 2's video-only)."""
    return sorted(k for k in state_dict if IGNORED.get(model, lambda key: False)(k))


def convert(model: str, checkpoint_path: str, output: str, allow_pickle: bool = False) -> dict:
    """Reads `checkpoint_path`, converts it for `model` and saves the params to `output`
    (with the names of the tensors it skipped)."""
    configs.get_config(model)  # Unknown names and used outputs fail before any reading.
    checkpoint.check_output(output)
    state_dict = load_state_dict(checkpoint_path, allow_pickle=allow_pickle)
    params = convert_state_dict(model, state_dict, what=checkpoint_path)
    left = skipped(model, state_dict)
    checkpoint.save(output, model, params, source=checkpoint_path, skipped=left)
    return params


__all__ = [
    "KEYMAPS",
    "CheckpointReadError",
    "ConversionError",
    "convert",
    "convert_state_dict",
    "skipped",
]
