"""The registry of model families: one line per folder of `eigjax/models/`, and every
model name gathered from them (`CONFIGS`). Adding a family is its folder (its encoder,
configs and preprocessing: `family.Family`) and one line in `FAMILIES`."""

from eigjax.models import control, sam, sam2, sam3, sam_med2d, tiny_vit
from eigjax.models.configs import ModelConfig
from eigjax.models.family import Family, Preprocess

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        sam.FAMILY,
        sam_med2d.FAMILY,
        tiny_vit.FAMILY,
        sam2.FAMILY,
        sam3.FAMILY,
        control.FAMILY,
    )
}
CONFIGS: dict[str, ModelConfig] = {c.name: c for f in FAMILIES.values() for c in f.configs}
PREPROCESS: dict[str, Preprocess] = {
    name: rule for f in FAMILIES.values() for name, rule in f.preprocess.items()
}


def get_config(name: str) -> ModelConfig:
    """Returns the config registered under `name`; the error lists the valid names."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; known models: {sorted(CONFIGS)}") from None


def family(config: ModelConfig) -> Family:
    return FAMILIES[config.family]


def network(config: ModelConfig, precision: str = "highest"):
    """The Flax module computing `config`'s model, its decoder at `precision`."""
    return family(config).network(config, precision)


def preprocessing(config: ModelConfig) -> Preprocess:
    """The preprocessing rule `config` names."""
    try:
        return PREPROCESS[config.preprocess]
    except KeyError:
        raise ValueError(
            f"{config.name}: unknown preprocessing rule {config.preprocess!r}; "
            f"known: {sorted(PREPROCESS)}"
        ) from None
