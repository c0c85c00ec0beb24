"""SAM 3 in interactive image mode, as `build_sam3_image_model(enable_inst_interactivity=
True)` and `Sam3Processor` + `predict_inst` run it (`sam3/model_builder.py`), and a
reduced trunk for the tests (`sam3_reduced`: the same code, fewer and narrower blocks)."""

import dataclasses

from eigjax.models.configs import Checkpoint, MaskDecoderConfig, ModelConfig
from eigjax.models.sam2.configs import SAM2_PROMPT
from eigjax.models.sam3.image_encoder import Sam3ViTConfig

# The tracker's heads (`Sam3TrackerBase._build_sam_heads`): SAM 2.1's, with the object
# score's MLP head kept.
SAM3_DECODER = MaskDecoderConfig(
    obj_score_token=True, high_res_features=True, iou_sigmoid=True, obj_score_head=True
)
SAM3_VIT = Sam3ViTConfig()
# Not a released model: SAM 3's code at 2 blocks of width 128 (one windowed, one global),
# what the parity tests run beside the full trunk's single test.
REDUCED_VIT = dataclasses.replace(
    SAM3_VIT, embed_dim=128, depth=2, num_heads=2, global_att_blocks=(1,)
)


# Gated on Hugging Face: a person accepts Meta's SAM License there, then downloads it.
SAM3_CHECKPOINT = Checkpoint(
    "sam3.pt",
    page="https://huggingface.co/facebook/sam3 (accept the SAM License there, then download)",
    why="its terms must be accepted on Hugging Face first (a gated repository)",
)


def _sam3(name: str, encoder: Sam3ViTConfig, checkpoint: Checkpoint | None) -> ModelConfig:
    return ModelConfig(
        name=name,
        encoder=encoder,
        prompt_encoder=SAM2_PROMPT,
        mask_decoder=SAM3_DECODER,
        image_size=1008,
        preprocess="stretch_uint8",
        postprocess="direct",
        pixel_mean=(0.5, 0.5, 0.5),  # On [0, 1].
        pixel_std=(0.5, 0.5, 0.5),
        low_res_clamp=32.0,
        max_hole_area=256,  # `SAM3InteractiveImagePredictor`'s default.
        family="sam3",
        checkpoint=checkpoint,
    )


CONFIGS = (_sam3("sam3", SAM3_VIT, SAM3_CHECKPOINT), _sam3("sam3_reduced", REDUCED_VIT, None))
