"""SAM-family models in Flax: configs by name, converted params, `embed` and `predict`."""

from eigjax.models.checkpoint import CheckpointError
from eigjax.models.configs import CONFIGS, ModelConfig, get_config
from eigjax.models.model import Embedding, Model, Prediction


def load(name: str, path: str | None = None) -> Model:
    """The model `name` with the converted params in directory `path`.

    Args:
      name: a registered model name, e.g. "sam_vit_b", "medsam", "litemedsam".
      path: a directory written by `python -m weights_convert`; None for a model whose
        weights ship in an installed package (`litemedsam`), converted on first use.
    """
    from eigjax.models import bundled, checkpoint

    config = get_config(name)
    if path is None:
        path = bundled.converted_params(name)
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
