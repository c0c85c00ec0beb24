"""SAM 3's family in interactive image mode: its ViT trunk with RoPE and the SAM 2 neck,
under the tracker's SAM 2 style heads (key map: `weights_convert/sam3.py`)."""

from eigjax.models.family import Family, image_rule
from eigjax.models.sam3 import configs, preprocess

FAMILY = Family(
    name="sam3",
    configs=configs.CONFIGS,
    preprocess={"stretch_uint8": image_rule(preprocess.stretch_uint8)},
)
