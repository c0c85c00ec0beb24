"""The calibrated control (`calibrated.py`): not a segmenter, a calibration standard built
from the ground truth. K = 8 hypotheses as 8 "multimask" tokens after the predictive map;
its IoU head is calibrated, so its own rule is the best predicted IoU at every step."""

from eigjax.models.configs import MaskDecoderConfig, ModelConfig
from eigjax.models.control.calibrated import ControlConfig

CONTROL = ControlConfig()
CONFIGS = (
    ModelConfig(
        name="calibrated",
        encoder=CONTROL,
        mask_decoder=MaskDecoderConfig(num_multimask_outputs=CONTROL.num_hypotheses),
        image_size=256,
        preprocess="ground_truth",
        postprocess="direct",
        mask_rule="best_iou",
        mask_feedback="none",
        family="control",
    ),
)
