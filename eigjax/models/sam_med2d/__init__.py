"""SAM-Med2D's family: SAM's ViT with adapters (`sam.image_encoder`), its own
preprocessing and checkpoint (key map: `weights_convert/sam_med2d.py`)."""

from eigjax.models.family import Family, image_rule
from eigjax.models.sam_med2d import configs, preprocess

FAMILY = Family(
    name="sam_med2d",
    configs=configs.CONFIGS,
    preprocess={
        "normalize_stretch_nearest": image_rule(preprocess.normalize_stretch_nearest),
    },
)
