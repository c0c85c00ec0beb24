"""SAM (ViT-B/L/H) and MedSAM, with the numbers of the official builders
(`segment_anything/build_sam.py`; MedSAM's `MedSAM_Inference.py`)."""

from eigjax.models.configs import ModelConfig
from eigjax.models.sam.image_encoder import ViTConfig

VIT_B = ViTConfig(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11))
VIT_L = ViTConfig(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23))
VIT_H = ViTConfig(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31))

CONFIGS = (
    ModelConfig(name="sam_vit_b", encoder=VIT_B),
    ModelConfig(name="sam_vit_l", encoder=VIT_L),
    ModelConfig(name="sam_vit_h", encoder=VIT_H),
    # MedSAM: sam_vit_b weights fine-tuned on medical images with box prompts.
    ModelConfig(
        name="medsam",
        encoder=VIT_B,
        preprocess="stretch_minmax",
        postprocess="direct",
        mask_rule="token0",  # Trained with boxes, multimask_output=False.
        mask_feedback="none",
    ),
)
