"""SAM-family models in Flax: configs by name, converted params, `embed` and `predict`."""

from eigjax.models.checkpoint import CheckpointError
from eigjax.models.configs import CONFIGS, ModelConfig, get_config
from eigjax.models.model import Embedding, Model, Prediction


def load(name: str, path: str) -> Model:
    """The model `name` with the converted params in directory `path`.

    Args:
      name: a registered model name, e.g. "sam_vit_b", "medsam".
      path: a directory written by `python -m weights_convert`.
    """
    from eigjax.models import checkpoint

    config = get_config(name)
    return Model(config=config, params=checkpoint.restore(path, config))


__all__ = [
    "CONFIGS",
    "CheckpointError",
    "Embedding",
    "Model",
    "ModelConfig",
    "Prediction",
    "get_config",
    "load",
]
