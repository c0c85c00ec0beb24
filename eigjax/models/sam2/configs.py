"""SAM 2.1 (Hiera T/S/B+/L) and MedSAM2 in image mode, as `SAM2ImagePredictor` runs them
(the `sam2` package's `configs/sam2.1/*.yaml`; MedSAM2's configs)."""

from eigjax.models.configs import (
    Checkpoint,
    MaskDecoderConfig,
    ModelConfig,
    PromptEncoderConfig,
)
from eigjax.models.sam2.image_encoder import HieraConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # SAM 2's, on [0, 1].
IMAGENET_STD = (0.229, 0.224, 0.225)
SAM2_DECODER = MaskDecoderConfig(obj_score_token=True, high_res_features=True, iou_sigmoid=True)
SAM2_PROMPT = PromptEncoderConfig(pad_always=True)
HIERA_T = HieraConfig(96, 1, (1, 2, 7, 2), (5, 7, 9), (7, 7))
HIERA_S = HieraConfig(96, 1, (1, 2, 11, 2), (7, 10, 13), (7, 7))
HIERA_B_PLUS = HieraConfig(112, 2, (2, 3, 16, 3), (12, 16, 20), (14, 14))
HIERA_L = HieraConfig(144, 2, (2, 6, 36, 4), (23, 33, 43), (7, 7), window_spec=(8, 4, 16, 8))


# Meta's SAM 2.1 release (sam2's `checkpoints/download_ckpts.sh`). Meta publishes no hash;
# the MD5s as IOPaint's model table pins them (tchr-dev/IOPaint-mod,
# iopaint/plugins/interactive_seg.py).
_RELEASE = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"


def _meta(name: str, md5: str) -> Checkpoint:
    file = f"{name}.pt"
    return Checkpoint(file, _RELEASE + file, f"md5:{md5}", "the MD5 IOPaint's model table pins")


def _sam2(
    name: str, encoder: HieraConfig, checkpoint: Checkpoint, image_size: int = 1024
) -> ModelConfig:
    """SAM 2.1 in image mode, as `SAM2ImagePredictor` runs it."""
    return ModelConfig(
        name=name,
        encoder=encoder,
        prompt_encoder=SAM2_PROMPT,
        mask_decoder=SAM2_DECODER,
        image_size=image_size,
        preprocess="stretch_antialias",
        postprocess="direct",
        pixel_mean=IMAGENET_MEAN,
        pixel_std=IMAGENET_STD,
        low_res_clamp=32.0,
        family="sam2",
        checkpoint=checkpoint,
    )


CONFIGS = (
    _sam2(
        "sam2.1_hiera_tiny", HIERA_T, _meta("sam2.1_hiera_tiny", "6aa6761c9da74fbaa74b4c790a0a2007")
    ),
    _sam2(
        "sam2.1_hiera_small",
        HIERA_S,
        _meta("sam2.1_hiera_small", "51713b3d1994696d27f35f9c6de6f5ef"),
    ),
    _sam2(
        "sam2.1_hiera_base_plus",
        HIERA_B_PLUS,
        _meta("sam2.1_hiera_base_plus", "ec7bd7d23d280d5e3cfa45984c02eda5"),
    ),
    _sam2(
        "sam2.1_hiera_large",
        HIERA_L,
        _meta("sam2.1_hiera_large", "2b30654b6112c42a115563c638d238d9"),
    ),
    # MedSAM2: SAM 2.1 Hiera-T fine-tuned at 512 px with boxes and points (its configs
    # set image_size: 512, so its FPN maps are 128/64/32). Hugging Face shows the file's
    # SHA-256 on its page, which could not be read where this was written.
    _sam2(
        "medsam2",
        HIERA_T,
        Checkpoint(
            "MedSAM2_latest.pt",
            "https://huggingface.co/wanglab/MedSAM2/resolve/main/MedSAM2_latest.pt",
            hash_source="no hash pinned here (Hugging Face shows one): trusted on first use",
        ),
        image_size=512,
    ),
)
