"""Key map of the SAM 2 checkpoints (`sam2.1_hiera_*.pt`, `sam2_hiera_*.pt`, MedSAM2's),
`{'model': state_dict}`, for image mode.

The image path (the Hiera trunk and FPN neck, `no_mem_embed`, the prompt encoder, the mask
decoder with its conv_s0 / conv_s1) is mapped strictly, as for SAM. The video-only tensors
(`VIDEO_ONLY`: memory attention and encoder, object pointers, mask downsampler, temporal
encodings, and the object-score head the image predictor does not read) are skipped by
name and listed in the converted directory's `model.json`; any other unexpected, missing
or mis-shaped tensor fails as for SAM.
"""

from eigjax.models import configs
from eigjax.models.sam2.image_encoder import HieraConfig
from weights_convert import sam
from weights_convert.keymap import Converter, Entry, conv, embedding_vector, layer_norm, linear

VIDEO_ONLY_MODULES = (
    "memory_attention.",
    "memory_encoder.",
    "obj_ptr_proj.",
    "obj_ptr_tpos_proj.",  # SAM 2.1 only.
    "mask_downsample.",
    "sam_mask_decoder.pred_obj_score_head.",
)
VIDEO_ONLY_TENSORS = (
    "maskmem_tpos_enc",
    "no_mem_pos_enc",
    "no_obj_ptr",
    "no_obj_embed_spatial",  # SAM 2.1 only.
)


def video_only(key: str) -> bool:
    """Whether a checkpoint tensor serves only SAM 2's video mode (skipped, listed)."""
    return key in VIDEO_ONLY_TENSORS or key.startswith(VIDEO_ONLY_MODULES)


def _to_nhwc(w):  # [1, C, h, w] → [1, h, w, C]
    return w.transpose(0, 2, 3, 1)


def block(t: str, f: tuple, projects: bool) -> list[Entry]:
    """One MultiScaleBlock; `projects`: its width changes (a shortcut projection)."""
    entries = layer_norm(f"{t}.norm1", f + ("norm1",)) + layer_norm(f"{t}.norm2", f + ("norm2",))
    entries += linear(f"{t}.attn.qkv", f + ("attn", "qkv"))
    entries += linear(f"{t}.attn.proj", f + ("attn", "proj"))
    entries += linear(f"{t}.mlp.layers.0", f + ("mlp_layers_0",))
    entries += linear(f"{t}.mlp.layers.1", f + ("mlp_layers_1",))
    if projects:
        entries += linear(f"{t}.proj", f + ("proj",))
    return entries


def image_encoder(cfg: HieraConfig, t: str = "image_encoder") -> list[Entry]:
    f = ("image_encoder",)
    tt, ft = f"{t}.trunk", f + ("trunk",)
    entries = [
        Entry((f"{tt}.pos_embed",), ft + ("pos_embed",), _to_nhwc),
        Entry((f"{tt}.pos_embed_window",), ft + ("pos_embed_window",), _to_nhwc),
        *conv(f"{tt}.patch_embed.proj", ft + ("patch_embed",)),
    ]
    starts = {sum(cfg.stages[:i]) for i in range(1, len(cfg.stages))}
    for i in range(sum(cfg.stages)):
        entries += block(f"{tt}.blocks.{i}", ft + (f"blocks_{i}",), projects=i in starts)
    for j in range(len(cfg.stages)):
        entries += conv(f"{t}.neck.convs.{j}.conv", f + ("neck", f"convs_{j}"))
    return entries


def keymap(config: configs.ModelConfig) -> list[Entry]:
    """Every image-mode tensor of a SAM 2 checkpoint."""
    entries = image_encoder(config.encoder)
    entries += embedding_vector("no_mem_embed", ("no_mem_embed",))
    entries += conv("sam_mask_decoder.conv_s0", ("conv_s0",))
    entries += conv("sam_mask_decoder.conv_s1", ("conv_s1",))
    entries += sam.prompt_encoder("sam_prompt_encoder")
    decoder = sam.mask_decoder(config.mask_decoder, "sam_mask_decoder", ("layers.0", "layers.1"))
    return entries + decoder


CONVERTER = Converter("SAM 2", "sam_mask_decoder.", keymap, video_only)
