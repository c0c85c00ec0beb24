"""The calibrated control's family: a positive control of the instrument, built per image
from the ground truth (`calibrated.py`); no weights."""

import numpy as np

from eigjax.models.configs import ModelConfig
from eigjax.models.control import calibrated, configs
from eigjax.models.family import Family, Preprocess


def _input(image: np.ndarray, gt: np.ndarray | None, config: ModelConfig) -> np.ndarray:
    """The control's "encoder input": its hypotheses, from the ground truth."""
    if gt is None:
        raise ValueError(
            f"{config.name} is a control built from the ground truth: it needs the mask of "
            "the image (a dataset with masks), not an image alone"
        )
    if np.shape(gt) != np.shape(image)[:2]:
        raise ValueError(f"mask {np.shape(gt)} and image {np.shape(image)[:2]} differ in size")
    return calibrated.encoder_input(gt, config.image_size, config.encoder)


FAMILY = Family(
    name="control",
    configs=configs.CONFIGS,
    # Prompts map to the hypotheses' frame × size/w, size/h (stretched).
    preprocess={"ground_truth": Preprocess(_input)},
    network=lambda config, precision: calibrated.CalibratedControl(config),
    decoder_params=lambda params, precision: params,  # No decoder: nothing to cast.
    decoder_macs=None,
    needs_ground_truth=True,
    has_weights=False,
)
