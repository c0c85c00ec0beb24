"""Key map of SAM 3's checkpoint (`sam3.pt`: a flat state dict, or one under a top-level
`"model"`, with `detector.*` and `tracker.*` keys, as `model_builder._load_checkpoint`
reads it) for the interactive image path.

Mapped strictly: the detector's vision trunk (`detector.backbone.vision_backbone.trunk`)
and its SAM 2 neck (`sam2_convs` 0–2), and the tracker's `no_mem_embed`, prompt encoder
and mask decoder (with conv_s0 / conv_s1 and the object-score head). Skipped by name and
listed in `model.json`: the rest of the detector (text encoder, detector neck `convs`,
transformer, geometry encoder, segmentation head, scoring), the neck's 0.5 level (dropped
by the backbone's scalp), the RoPE tables (`freqs_cis`, computed from the config) and the
tracker's video-only tensors (memory, object pointers, temporal encodings).
"""

import re

from eigjax.models import configs
from weights_convert import sam
from weights_convert.keymap import (
    Converter,
    Entry,
    conv,
    conv_transpose,
    embedding_vector,
    layer_norm,
    linear,
    tensor,
)

TRUNK = "detector.backbone.vision_backbone.trunk."
NECK = "detector.backbone.vision_backbone.sam2_convs."
TRACKER_VIDEO_ONLY = (
    "tracker.transformer.",
    "tracker.maskmem_backbone.",
    "tracker.obj_ptr_proj.",
    "tracker.obj_ptr_tpos_proj.",
    "tracker.mask_downsample.",
    "tracker.maskmem_tpos_enc",
    "tracker.no_mem_pos_enc",
    "tracker.no_obj_ptr",
    "tracker.no_obj_embed_spatial",
)
_ROPE_TABLE = re.compile(re.escape(TRUNK) + r"blocks\.\d+\.attn\.freqs_cis$")
_LOW_LEVEL = re.compile(re.escape(NECK) + r"([3-9]|\d\d+)\.")


def not_interactive(key: str) -> bool:
    """Whether a checkpoint tensor is off the interactive image path (skipped, listed)."""
    if key.startswith("detector."):
        on_path = key.startswith((TRUNK, NECK))
        return not on_path or bool(_ROPE_TABLE.match(key) or _LOW_LEVEL.match(key))
    return key.startswith(TRACKER_VIDEO_ONLY)


def image_encoder(cfg) -> list[Entry]:
    """The trunk and the SAM 2 neck of `Sam3ViTConfig` `cfg`."""
    f, t = ("image_encoder", "trunk"), TRUNK.rstrip(".")
    entries = tensor(f"{t}.pos_embed", f + ("pos_embed",))
    entries += conv(f"{t}.patch_embed.proj", f + ("patch_embed",), bias=False)
    entries += layer_norm(f"{t}.ln_pre", f + ("ln_pre",))
    for i in range(cfg.depth):
        bt, bf = f"{t}.blocks.{i}", f + (f"blocks_{i}",)
        entries += layer_norm(f"{bt}.norm1", bf + ("norm1",))
        entries += layer_norm(f"{bt}.norm2", bf + ("norm2",))
        entries += linear(f"{bt}.attn.qkv", bf + ("attn", "qkv"))
        entries += linear(f"{bt}.attn.proj", bf + ("attn", "proj"))
        entries += linear(f"{bt}.mlp.fc1", bf + ("mlp_fc1",))
        entries += linear(f"{bt}.mlp.fc2", bf + ("mlp_fc2",))
    n, nf = NECK.rstrip("."), ("image_encoder", "sam2_neck")
    transposed = {4.0: ("dconv_2x2_0", "dconv_2x2_1"), 2.0: ("dconv_2x2",), 1.0: ()}
    for i, scale in enumerate(cfg.scale_factors):
        for name in transposed[scale]:
            entries += conv_transpose(f"{n}.{i}.{name}", nf + (f"{i}_{name}",))
        for name in ("conv_1x1", "conv_3x3"):
            entries += conv(f"{n}.{i}.{name}", nf + (f"{i}_{name}",))
    return entries


def keymap(config: configs.ModelConfig) -> list[Entry]:
    """Every tensor of the interactive image path."""
    entries = image_encoder(config.encoder)
    entries += embedding_vector("tracker.no_mem_embed", ("no_mem_embed",))
    entries += conv("tracker.sam_mask_decoder.conv_s0", ("conv_s0",))
    entries += conv("tracker.sam_mask_decoder.conv_s1", ("conv_s1",))
    entries += sam.prompt_encoder("tracker.sam_prompt_encoder")
    return entries + sam.mask_decoder(config.mask_decoder, "tracker.sam_mask_decoder")


CONVERTER = Converter("SAM 3", "tracker.sam_mask_decoder.", keymap, not_interactive)
