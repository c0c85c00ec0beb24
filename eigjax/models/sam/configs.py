"""SAM (ViT-B/L/H) and MedSAM, with the numbers of the official builders
(`segment_anything/build_sam.py`; MedSAM's `MedSAM_Inference.py`)."""

from eigjax.models.configs import Checkpoint, ModelConfig
from eigjax.models.sam.image_encoder import ViTConfig

VIT_B = ViTConfig(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11))
VIT_L = ViTConfig(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23))
VIT_H = ViTConfig(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31))

# Meta's release (segment-anything's README). Each file name carries its MD5's first six
# digits; the full MD5s as IOPaint's model table pins them (Sanster/IOPaint,
# iopaint/plugins/interactive_seg.py).
_RELEASE = "https://dl.fbaipublicfiles.com/segment_anything/"
_MD5_SOURCE = "the file name's MD5 prefix, in full as IOPaint pins it"


def _meta(file: str, md5: str) -> Checkpoint:
    return Checkpoint(file, _RELEASE + file, f"md5:{md5}", _MD5_SOURCE)


CONFIGS = (
    ModelConfig(
        name="sam_vit_b",
        encoder=VIT_B,
        checkpoint=_meta("sam_vit_b_01ec64.pth", "01ec64d29a2fca3f0661936605ae66f8"),
    ),
    ModelConfig(
        name="sam_vit_l",
        encoder=VIT_L,
        checkpoint=_meta("sam_vit_l_0b3195.pth", "0b3195507c641ddb6910d2bb5adee89c"),
    ),
    ModelConfig(
        name="sam_vit_h",
        encoder=VIT_H,
        checkpoint=_meta("sam_vit_h_4b8939.pth", "4b8939a88964f0f4ff5f5b2642c598a6"),
    ),
    # MedSAM: sam_vit_b weights fine-tuned on medical images with box prompts.
    ModelConfig(
        name="medsam",
        encoder=VIT_B,
        preprocess="stretch_minmax",
        postprocess="direct",
        mask_rule="token0",  # Trained with boxes, multimask_output=False.
        mask_feedback="none",
        checkpoint=Checkpoint(
            "medsam_vit_b.pth",
            page="https://drive.google.com/drive/folders/1ETWmi4AiniJeWOt6HAsYgTjYv_fkgzoN "
            "(bowang-lab/MedSAM's README)",
            why="its publisher hosts it in a Google Drive folder, which serves no plain download",
        ),
    ),
)
