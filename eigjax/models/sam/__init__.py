"""SAM's family: the ViT image encoder; SAM ViT-B/L/H and MedSAM (key map:
`weights_convert/sam.py`)."""

from eigjax.models.family import Family, image_rule
from eigjax.models.sam import configs, preprocess

FAMILY = Family(
    name="sam",
    configs=configs.CONFIGS,
    preprocess={
        "longest_side": image_rule(preprocess.longest_side, keeps_aspect=True),
        "stretch_minmax": image_rule(preprocess.stretch_minmax),
    },
)
