"""One frozen config per model name, holding every constant of the model.

The numbers come from the official builders (`segment_anything/build_sam.py`, MedSAM's
`MedSAM_Inference.py`, the `sam2` package's `configs/sam2.1/*.yaml`, MobileSAM's
`build_sam_vit_t`); nothing in the modules hard-codes a dimension, an eps or a
preprocessing rule.
"""

import dataclasses
import math
from typing import Literal

# How an image becomes the encoder's square input:
#   "longest_side": resize the longest side to image_size (PIL bilinear on uint8),
#                   normalise with pixel mean/std, zero-pad bottom/right (SAM).
#   "stretch_minmax": resize to image_size x image_size ignoring aspect (skimage, order 3,
#                   anti-aliasing), min-max to [0, 1], no mean/std, no pad (MedSAM).
#   "longest_side_minmax": resize the longest side to image_size (cv2.INTER_AREA on
#                   uint8), min-max to [0, 1], zero-pad bottom/right (LiteMedSAM's
#                   CVPR24_LiteMedSAM_infer.py).
#   "normalize_stretch_nearest": normalise with pixel mean/std, then resize to
#                   image_size x image_size with cv2.INTER_NEAREST, no pad (SAM-Med2D's
#                   SammedPredictor).
#   "stretch_antialias": to [0, 1], resize to image_size x image_size ignoring aspect
#                   (bilinear with antialias, as torchvision's tensor `Resize`), then
#                   normalise with pixel mean/std on [0, 1] (SAM 2's SAM2Transforms).
#   "ground_truth": the calibrated control's input is built from the ground-truth mask
#                   (`control.encoder_input`), not from the image; prompts × size/w, size/h.
Preprocess = Literal[
    "longest_side",
    "stretch_minmax",
    "longest_side_minmax",
    "normalize_stretch_nearest",
    "stretch_antialias",
    "ground_truth",
]

# How low-res logits go back to the original resolution:
#   "upscale_crop_resize": bilinear to image_size, crop the unpadded input region, bilinear
#                          to the original size (`Sam.postprocess_masks`).
#   "direct":              bilinear straight to the original size (MedSAM's inference).
Postprocess = Literal["upscale_crop_resize", "direct"]

# The output a model was trained to give, and so the proposed mask of the protocol's
# mask_rule "model": "token0" (the single-mask output; trained with multimask_output=False,
# MedSAM and LiteMedSAM), "best_iou" (the multimask token of best predicted IoU, always:
# SAM-Med2D's test loop) or "best_iou_first" (the best multimask token after a single
# click, token 0 once the prompt holds more: SAM's and SAM 2's predictors, as trained).
MaskRule = Literal["best_iou", "token0", "best_iou_first"]

# What a model's own interactive loop feeds back as the next mask input: nothing (MedSAM,
# LiteMedSAM: box-only), the previous low-res logits (SAM's and SAM 2's predictors,
# iterative use) or their sigmoid (SAM-Med2D's test loop).
MaskFeedback = Literal["none", "logits", "sigmoid"]

# Which code computes a model (`families.FAMILIES`): SAM's network (every SAM-family
# model) or the calibrated control.
Family = Literal["sam", "control"]

# Where the protocol's SAM-Med2D clickers (`noisy_box`, `random_error`) draw: on the
# original pixels, or on the model's square input ("input"), as SAM-Med2D's own test loop
# draws on its 256-px input.
PromptFrame = Literal["original", "input"]

SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # SAM 2's, on [0, 1].
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class ViTConfig:
    """SAM's ViT image encoder (ViTDet backbone with a conv neck)."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    patch_size: int = 16
    mlp_ratio: float = 4.0
    window_size: int = 14
    out_chans: int = 256
    qkv_bias: bool = True
    use_rel_pos: bool = True
    norm_eps: float = 1e-6  # ViT blocks' LayerNorm.
    neck_eps: float = 1e-6  # LayerNorm2d in the neck.
    # SAM-Med2D: an adapter in every block, parallel to the MLP.
    adapter: bool = False
    adapter_mlp_ratio: float = 0.25
    adapter_eps: float = 1e-5  # The adapter's output LayerNorm (nn.LayerNorm default).


@dataclasses.dataclass(frozen=True)
class TinyViTConfig:
    """TinyViT image encoder (MobileSAM / LiteMedSAM `tiny_vit_sam.py`), BatchNorm folded.

    Stage 0 is MBConv blocks, stages 1-3 windowed attention blocks; a PatchMerging
    follows every stage but the last, with stride `merge_strides[i]`.
    """

    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    window_sizes: tuple[int, ...]
    merge_strides: tuple[int, ...]
    stem_kernel: int  # The two Conv2d_BN of the patch embedding: kernel and stride.
    stem_stride: int
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    out_chans: int = 256
    bn_eps: float = 1e-5  # BatchNorm2d default; folded into the conv at conversion.
    norm_eps: float = 1e-5  # nn.LayerNorm default, in attention and MLP.
    neck_eps: float = 1e-6

    @property
    def patch_size(self) -> int:
        """Input pixels per embedding cell along a side."""
        return self.stem_stride**2 * math.prod(self.merge_strides)


@dataclasses.dataclass(frozen=True)
class HieraConfig:
    """SAM 2's image encoder: the Hiera trunk (`sam2/modeling/backbones/hieradet.py`) and the
    FPN neck (`image_encoder.py: FpnNeck`), with the defaults of `Hiera.__init__`.

    Stage i has `stages[i]` blocks; between stages the width and heads double and the first
    block of a stage pools its queries by `q_stride` (the first `q_pool` stage changes).
    A block attends within windows of `window_spec[stage]` (the first block of a stage
    still uses the previous stage's) unless it is in `global_att_blocks`.
    """

    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    global_att_blocks: tuple[int, ...]
    window_pos_embed_bkg_spatial_size: tuple[int, int]
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    q_pool: int = 3
    q_stride: int = 2
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-6
    patch_kernel: int = 7  # PatchEmbed: conv 7x7, stride 4, padding 3.
    patch_stride: int = 4
    patch_padding: int = 3
    d_model: int = 256  # The neck.
    fpn_top_down_levels: tuple[int, ...] = (2, 3)
    scalp: int = 1  # Coarsest levels dropped from the neck's outputs.
    out_chans: int = 256

    @property
    def patch_size(self) -> int:
        """Input pixels per cell of the image embedding (the last level kept)."""
        level = len(self.stages) - 1 - self.scalp
        return self.patch_stride * self.q_stride**level


@dataclasses.dataclass(frozen=True)
class ControlConfig:
    """The control's constants (its "encoder": the hypotheses are its embedding).

    prior: "uniform" (calibrated), or "overconfident" (a stated miscalibration: weight
      `overconfidence` on the hypothesis with every edit applied, the one farthest from the
      truth, the rest shared evenly).
    """

    factors: int = 3  # F edits: K = 2^F hypotheses.
    label_noise: float = 0.01  # ε: the annotator's label flips, as the control models them.
    prior: Literal["uniform", "overconfident"] = "uniform"
    overconfidence: float = 0.98
    grid: int = 30  # The grid whose points every edit region must hold (the paper's).
    patch_size: int = 4  # So that the low-res frame is image_size × image_size.

    @property
    def num_hypotheses(self) -> int:
        return 2**self.factors


@dataclasses.dataclass(frozen=True)
class PromptEncoderConfig:
    embed_dim: int = 256
    mask_in_chans: int = 16
    norm_eps: float = 1e-6  # LayerNorm2d in the mask downscaling path.
    # SAM 2's predictor encodes a box as two points (labels 2, 3) and always appends the
    # padding point, box or not; SAM's appends it only without a box.
    pad_always: bool = False


@dataclasses.dataclass(frozen=True)
class MaskDecoderConfig:
    transformer_dim: int = 256
    transformer_depth: int = 2
    transformer_mlp_dim: int = 2048
    transformer_heads: int = 8
    attention_downsample_rate: int = 2
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    norm_eps: float = 1e-5  # nn.LayerNorm defaults in the two-way transformer.
    upscale_eps: float = 1e-6  # LayerNorm2d in output_upscaling.
    # SAM 2: an object-score token before the IoU token; the encoder's stride-4 and -8
    # features (through conv_s0 / conv_s1) added after each upscaling; a sigmoid on the
    # IoU head.
    obj_score_token: bool = False
    high_res_features: bool = False
    iou_sigmoid: bool = False


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that defines one named model: architecture and pre/post-processing."""

    name: str
    encoder: ViTConfig | TinyViTConfig | HieraConfig | ControlConfig
    prompt_encoder: PromptEncoderConfig = PromptEncoderConfig()
    mask_decoder: MaskDecoderConfig = MaskDecoderConfig()
    image_size: int = 1024
    preprocess: Preprocess = "longest_side"
    postprocess: Postprocess = "upscale_crop_resize"
    pixel_mean: tuple[float, float, float] = SAM_PIXEL_MEAN
    pixel_std: tuple[float, float, float] = SAM_PIXEL_STD
    mask_rule: MaskRule = "best_iou_first"
    mask_feedback: MaskFeedback = "logits"
    prompt_frame: PromptFrame = "original"
    # The low-res logits a predictor returns (to feed back) are clamped to ±this (SAM 2's
    # `_predict`); the logits at the original size come from the unclamped ones.
    low_res_clamp: float | None = None
    family: Family = "sam"

    @property
    def embedding_size(self) -> int:
        return self.image_size // self.encoder.patch_size

    @property
    def low_res_size(self) -> int:
        """Side of the decoder's logits: the embedding upscaled twice by 2."""
        return 4 * self.embedding_size

    @property
    def num_mask_tokens(self) -> int:
        return self.mask_decoder.num_multimask_outputs + 1


VIT_B = ViTConfig(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11))
VIT_L = ViTConfig(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23))
VIT_H = ViTConfig(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31))

CONFIGS: dict[str, ModelConfig] = {
    "sam_vit_b": ModelConfig(name="sam_vit_b", encoder=VIT_B),
    "sam_vit_l": ModelConfig(name="sam_vit_l", encoder=VIT_L),
    "sam_vit_h": ModelConfig(name="sam_vit_h", encoder=VIT_H),
    # MedSAM: sam_vit_b weights fine-tuned on medical images with box prompts.
    "medsam": ModelConfig(
        name="medsam",
        encoder=VIT_B,
        preprocess="stretch_minmax",
        postprocess="direct",
        mask_rule="token0",  # Trained with boxes, multimask_output=False.
        mask_feedback="none",
    ),
    # SAM-Med2D: sam_vit_b with adapters, trained at 256 px on SA-Med2D-20M.
    "sam_med2d": ModelConfig(
        name="sam_med2d",
        encoder=dataclasses.replace(VIT_B, adapter=True),
        image_size=256,
        preprocess="normalize_stretch_nearest",
        prompt_frame="input",
        mask_rule="best_iou",  # Its test.py: multimask, the best IoU, at every step.
        mask_feedback="sigmoid",
    ),
    # LiteMedSAM: TinyViT distilled from MedSAM at 256 px. Its stem is two 1x1 convs at
    # stride 1 (MobileSAM's is 3x3 at stride 2), and the last merge keeps 64x64.
    "litemedsam": ModelConfig(
        name="litemedsam",
        encoder=TinyViTConfig(
            embed_dims=(64, 128, 160, 320),
            depths=(2, 2, 6, 2),
            num_heads=(2, 4, 5, 10),
            window_sizes=(7, 7, 14, 7),
            merge_strides=(2, 2, 1),
            stem_kernel=1,
            stem_stride=1,
        ),
        image_size=256,
        preprocess="longest_side_minmax",
        mask_rule="token0",  # Distilled from MedSAM, trained single-mask.
        mask_feedback="none",
    ),
}


SAM2_DECODER = MaskDecoderConfig(obj_score_token=True, high_res_features=True, iou_sigmoid=True)
SAM2_PROMPT = PromptEncoderConfig(pad_always=True)
HIERA_T = HieraConfig(96, 1, (1, 2, 7, 2), (5, 7, 9), (7, 7))
HIERA_S = HieraConfig(96, 1, (1, 2, 11, 2), (7, 10, 13), (7, 7))
HIERA_B_PLUS = HieraConfig(112, 2, (2, 3, 16, 3), (12, 16, 20), (14, 14))
HIERA_L = HieraConfig(144, 2, (2, 6, 36, 4), (23, 33, 43), (7, 7), window_spec=(8, 4, 16, 8))


def _sam2(name: str, encoder: HieraConfig, image_size: int = 1024) -> ModelConfig:
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
    )


CONFIGS.update(
    {
        c.name: c
        for c in (
            _sam2("sam2.1_hiera_tiny", HIERA_T),
            _sam2("sam2.1_hiera_small", HIERA_S),
            _sam2("sam2.1_hiera_base_plus", HIERA_B_PLUS),
            _sam2("sam2.1_hiera_large", HIERA_L),
            # MedSAM2: SAM 2.1 Hiera-T fine-tuned at 512 px with boxes and points (its
            # configs set image_size: 512, so its FPN maps are 128/64/32).
            _sam2("medsam2", HIERA_T, image_size=512),
            # MobileSAM: TinyViT-5M (LiteMedSAM's dims with MobileSAM's 3x3 stride-2 stem)
            # distilled from SAM ViT-H, with SAM's prompt encoder, decoder and
            # preprocessing at 1024 px.
            ModelConfig(
                name="mobile_sam",
                encoder=dataclasses.replace(
                    CONFIGS["litemedsam"].encoder, stem_kernel=3, stem_stride=2
                ),
            ),
        )
    }
)


# The calibrated control (`control.py`): not a segmenter, a calibration standard built from
# the ground truth. K = 8 hypotheses as 8 "multimask" tokens after the predictive map;
# its IoU head is calibrated, so its own rule is the best predicted IoU at every step.
CONTROL = ControlConfig()
CONFIGS["calibrated"] = ModelConfig(
    name="calibrated",
    encoder=CONTROL,
    mask_decoder=MaskDecoderConfig(num_multimask_outputs=CONTROL.num_hypotheses),
    image_size=256,
    preprocess="ground_truth",
    postprocess="direct",
    mask_rule="best_iou",
    mask_feedback="none",
    family="control",
)


def decoder_macs(config: ModelConfig) -> int:
    """Multiply-adds of one prompt's decoder pass over the image rows, as the reference
    computes it: the two-way transformer's seven image-side projections (k, v of the later
    token-to-image attentions, q and out of the image-to-token ones, out of the first) and
    the two transposed convs. What the Oracle repeats per candidate; the token-side work is
    small beside it."""
    d = config.mask_decoder
    rows, c = config.embedding_size**2, d.transformer_dim
    internal = c // d.attention_downsample_rate
    return 7 * rows * c * internal + rows * c * (c // 4) * 4 + 4 * rows * (c // 4) * (c // 8) * 4


def get_config(name: str) -> ModelConfig:
    """Returns the config registered under `name`; the error lists the valid names."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; known models: {sorted(CONFIGS)}") from None
