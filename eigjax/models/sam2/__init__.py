"""SAM 2's family in image mode: the Hiera trunk and FPN neck; SAM 2.1 T/S/B+/L and
MedSAM2 (key map: `weights_convert/sam2.py`)."""

from eigjax.models.family import Family, image_rule
from eigjax.models.sam2 import configs, preprocess

FAMILY = Family(
    name="sam2",
    configs=configs.CONFIGS,
    preprocess={"stretch_antialias": image_rule(preprocess.stretch_antialias)},
)
