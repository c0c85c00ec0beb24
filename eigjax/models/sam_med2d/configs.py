"""SAM-Med2D: sam_vit_b with an adapter in every block, trained at 256 px on SA-Med2D-20M
(OpenGVLab/SAM-Med2D, `segment_anything/build_sam.py`, `test.py`)."""

import dataclasses

from eigjax.models.configs import Checkpoint, ModelConfig
from eigjax.models.sam.configs import VIT_B

CONFIGS = (
    ModelConfig(
        name="sam_med2d",
        encoder=dataclasses.replace(VIT_B, adapter=True),
        image_size=256,
        preprocess="normalize_stretch_nearest",
        prompt_frame="input",
        mask_rule="best_iou",  # Its test.py: multimask, the best IoU, at every step.
        mask_feedback="sigmoid",
        family="sam_med2d",
        checkpoint=Checkpoint(
            "sam-med2d_b.pth",
            page="https://drive.google.com/file/d/1ARiB5RkSsWmAB_8mqWnwDF8ZKTtFwsjl/view "
            "(OpenGVLab/SAM-Med2D's README)",
            why="its publisher hosts it on Google Drive, which serves no plain download",
        ),
    ),
)
