"""What a model family declares: its folder's `FAMILY` (`families.py` registers each).

A family is a folder of `eigjax/models/`: its encoder (the module and its config type),
its models' configs, its preprocessing rules and, for a family with weights, a key map in
`weights_convert/<family>.py`.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from eigjax.models.configs import ModelConfig, decoder_macs
from eigjax.models.network import Sam, decoder_params


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """How an image becomes the encoder's input.

    input: (image uint8 [H, W, 3], its ground truth bool [H, W] or None, config) → float32
      [S, S, C]; only the calibrated control reads the ground truth.
    keeps_aspect: the image is resized to its longest side and padded (prompts and masks
      map through the unpadded part); else it is stretched to S × S.
    """

    input: Callable[[np.ndarray, np.ndarray | None, ModelConfig], np.ndarray]
    keeps_aspect: bool = False


def image_rule(resize: Callable, keeps_aspect: bool = False) -> Preprocess:
    """A rule of the image alone: `resize(image uint8 [H, W, 3], config)`."""
    return Preprocess(lambda image, gt, config: resize(image, config), keeps_aspect)


@dataclasses.dataclass(frozen=True)
class Family:
    """A family's declarations.

    name: its folder's name, which its configs' `family` holds.
    configs: its models' configs (`families.CONFIGS` gathers them by name).
    preprocess: the rules it defines, by the name a config's `preprocess` gives.
    network: (config, precision) → the Flax module with `encode` and `decode_heads`
      (default `network.Sam`: SAM's architecture over the config's encoder).
    decoder_params: (params, precision) → the params as the network at that precision
      computes with them (`Model.at_precision`).
    decoder_macs: config → multiply-adds of one prompt's decoder pass (what the study's
      cost model counts per candidate); None: negligible (the control's weighted sum).
    needs_ground_truth: the model is built from the ground truth (the calibrated control).
    has_weights: the model has converted params to load.
    """

    name: str
    configs: tuple[ModelConfig, ...]
    preprocess: dict[str, Preprocess]
    network: Callable = Sam
    decoder_params: Callable[[dict, str], dict] = decoder_params
    decoder_macs: Callable[[ModelConfig], int] | None = decoder_macs
    needs_ground_truth: bool = False
    has_weights: bool = True
