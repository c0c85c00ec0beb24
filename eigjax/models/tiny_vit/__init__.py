"""The TinyViT family: LiteMedSAM and MobileSAM (key map: `weights_convert/tiny_vit.py`).
MobileSAM preprocesses with SAM's rule ("longest_side", `sam/preprocess.py`)."""

from eigjax.models.family import Family, image_rule
from eigjax.models.tiny_vit import configs, preprocess

FAMILY = Family(
    name="tiny_vit",
    configs=configs.CONFIGS,
    preprocess={
        "longest_side_minmax": image_rule(preprocess.longest_side_minmax, keeps_aspect=True),
    },
)
