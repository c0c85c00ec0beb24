"""Which code computes a model: one entry per `ModelConfig.family`.

network        the Flax module of a config, at a decoder precision (`encode` and
               `decode_heads`, as `Sam`)
encoder_input  the encoder's input for an image and its ground truth (None when not
               known): SAM's preprocessing of the image, or the control's hypotheses
decoder_params the params as the network at a precision computes with them (`Model.at_precision`)
needs_ground_truth  the model is built from the ground truth (the calibrated control)
has_weights    the model has converted params to load
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from eigjax.models import control, transforms
from eigjax.models.configs import ModelConfig
from eigjax.models.sam import Sam, decoder_params


@dataclasses.dataclass(frozen=True)
class Family:
    network: Callable  # (config, precision) → the Flax module
    encoder_input: Callable  # (image, gt or None, config) → float32 [S, S, C]
    decoder_params: Callable = lambda params, precision: params  # (params, precision) → params
    needs_ground_truth: bool = False
    has_weights: bool = True


def _control_input(image, gt, config: ModelConfig) -> np.ndarray:
    if gt is None:
        raise ValueError(
            f"{config.name} is a control built from the ground truth: it needs the mask of "
            "the image (a dataset with masks), not an image alone"
        )
    if np.shape(gt) != np.shape(image)[:2]:
        raise ValueError(f"mask {np.shape(gt)} and image {np.shape(image)[:2]} differ in size")
    return control.encoder_input(gt, config.image_size, config.encoder)


FAMILIES: dict[str, Family] = {
    "sam": Family(
        Sam, lambda image, gt, config: transforms.preprocess(image, config), decoder_params
    ),
    "control": Family(
        lambda config, precision: control.CalibratedControl(config),
        _control_input,
        needs_ground_truth=True,
        has_weights=False,
    ),
}


def family(config: ModelConfig) -> Family:
    return FAMILIES[config.family]


def network(config: ModelConfig, precision: str = "highest"):
    """The Flax module computing `config`'s model, its decoder at `precision`."""
    return family(config).network(config, precision)
