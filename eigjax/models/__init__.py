"""SAM-family models in Flax: configs by name, converted params, `embed` and `predict`."""

import logging

import jax

from eigjax.models.checkpoint import CheckpointError
from eigjax.models.configs import ModelConfig
from eigjax.models.families import CONFIGS, get_config
from eigjax.models.model import Embedding, Model, Prediction
from eigjax.models.prompt import Prompt


def load(name: str, path: str | None = None) -> Model:
    """The model `name` with the converted params in directory `path`.

    Args:
      name: a registered model name, e.g. "sam_vit_b", "medsam", "litemedsam".
      path: a directory written by `python -m weights_convert` (or `experiments.finetune`:
        then the model's loop is the one its params were trained with); None for a model
        whose weights ship in an installed package (`litemedsam`), converted on first use.
        A bundled cache that fails its checks is rebuilt once, with a message.
    """
    from eigjax.models import bundled, checkpoint, families

    config = get_config(name)
    if not families.family(config).has_weights:  # The calibrated control.
        if path:
            raise ValueError(f"{name} has no weights to load; got params {path!r}")
        return Model(config, {})
    if path is not None:
        params = jax.device_put(checkpoint.restore(path, config))
        return Model(checkpoint.loaded_config(path, config), params)
    cached = bundled.converted_params(name)
    try:
        params = checkpoint.restore(cached, config, require_checksums=True)
    except CheckpointError as e:
        logging.getLogger(__name__).warning("%s; rebuilding the bundled %s cache", e, name)
        rebuilt = bundled.converted_params(name, rebuild=True)
        params = checkpoint.restore(rebuilt, config, require_checksums=True)
    return Model(config, jax.device_put(params))


__all__ = [
    "CONFIGS",
    "CheckpointError",
    "Embedding",
    "Model",
    "ModelConfig",
    "Prediction",
    "Prompt",
    "get_config",
    "load",
]
