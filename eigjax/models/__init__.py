"""SAM-family models in Flax: configs by name, converted params, `embed` and `predict`."""

import logging

import jax

from eigjax.models.checkpoint import CheckpointError
from eigjax.models.configs import ModelConfig
from eigjax.models.families import CONFIGS, get_config
from eigjax.models.model import Embedding, Model, Prediction
from eigjax.models.prompt import Prompt


def load(name: str, path: str | None = None) -> Model:
    """The model `name` with its converted params.

    Args:
      name: a registered model name, e.g. "sam_vit_b", "medsam", "litemedsam".
      path: a directory written by `eigjax-convert` (or `eigjax-finetune`: then the
        model's loop is the one its params were trained with); None: the cached
        conversion (`cache.params_dir(name)`), made on first use where eigjax can obtain
        the checkpoint (shipped in an installed package, as LiteMedSAM's, or downloaded
        from its publisher and checked against its pinned hash). A cache that fails its
        checks is rebuilt once, with a message.

    Returns:
      The `Model`: `embed` and `predict` with those params.

    Raises:
      ValueError: `name` is unknown, or its checkpoint must be fetched by hand (the
        message says from where, and how to convert it).
      CheckpointError: the params do not fit the model or fail their checksums.
    """
    from eigjax.models import cache, checkpoint, families

    config = get_config(name)
    if not families.family(config).has_weights:  # The calibrated control.
        if path:
            raise ValueError(f"{name} has no weights to load; got params {path!r}")
        return Model(config, {})
    if path is not None:
        params = jax.device_put(checkpoint.restore(path, config))
        return Model(checkpoint.loaded_config(path, config), params)
    cached = cache.converted_params(name)
    try:
        params = checkpoint.restore(cached, config, require_checksums=True)
    except CheckpointError as e:
        logging.getLogger(__name__).warning("%s; rebuilding the cached %s params", e, name)
        rebuilt = cache.converted_params(name, rebuild=True)
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
