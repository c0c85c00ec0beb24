"""Key map of the official SAM checkpoints (`sam_vit_{b,l,h}_*.pth`, `medsam_vit_b.pth`).

The prompt-encoder and mask-decoder maps are shared by every SAM-family model.
"""

from eigjax.models import configs
from eigjax.models.sam.image_encoder import ViTConfig
from weights_convert.keymap import (
    Converter,
    Entry,
    conv,
    conv_transpose,
    embedding_vector,
    layer_norm,
    linear,
    stacked_embeddings,
    tensor,
)


def vit_block(t: str, f: tuple, use_rel_pos: bool, qkv_bias: bool) -> list[Entry]:
    """One ViT block: torch prefix `t` (e.g. "image_encoder.blocks.3"), Flax path `f`."""
    entries = layer_norm(f"{t}.norm1", f + ("norm1",))
    entries += linear(f"{t}.attn.qkv", f + ("attn", "qkv"), bias=qkv_bias)
    entries += linear(f"{t}.attn.proj", f + ("attn", "proj"))
    if use_rel_pos:
        entries += tensor(f"{t}.attn.rel_pos_h", f + ("attn", "rel_pos_h"))
        entries += tensor(f"{t}.attn.rel_pos_w", f + ("attn", "rel_pos_w"))
    entries += layer_norm(f"{t}.norm2", f + ("norm2",))
    entries += linear(f"{t}.mlp.lin1", f + ("mlp", "lin1"))
    entries += linear(f"{t}.mlp.lin2", f + ("mlp", "lin2"))
    return entries


def neck(t: str, f: tuple) -> list[Entry]:
    """The encoder neck `Sequential(conv1x1, LayerNorm2d, conv3x3, LayerNorm2d)`."""
    return (
        conv(f"{t}.0", f + ("conv1",), bias=False)
        + layer_norm(f"{t}.1", f + ("ln1",))
        + conv(f"{t}.2", f + ("conv2",), bias=False)
        + layer_norm(f"{t}.3", f + ("ln2",))
    )


def vit_encoder(cfg: ViTConfig, t: str = "image_encoder") -> list[Entry]:
    f = ("image_encoder",)
    entries = conv(f"{t}.patch_embed.proj", f + ("patch_embed",))
    entries += tensor(f"{t}.pos_embed", f + ("pos_embed",))
    for i in range(cfg.depth):
        entries += vit_block(f"{t}.blocks.{i}", f + (f"blocks_{i}",), cfg.use_rel_pos, cfg.qkv_bias)
    return entries + neck(f"{t}.neck", f + ("neck",))


def prompt_encoder(t: str = "prompt_encoder") -> list[Entry]:
    f = ("prompt_encoder",)
    entries = tensor(
        f"{t}.pe_layer.positional_encoding_gaussian_matrix",
        f + ("positional_encoding_gaussian_matrix",),
    )
    entries += stacked_embeddings(
        [f"{t}.point_embeddings.{i}.weight" for i in range(4)], f + ("point_embeddings",)
    )
    entries += embedding_vector(f"{t}.not_a_point_embed.weight", f + ("not_a_point_embed",))
    entries += embedding_vector(f"{t}.no_mask_embed.weight", f + ("no_mask_embed",))
    entries += conv(f"{t}.mask_downscaling.0", f + ("mask_conv1",))
    entries += layer_norm(f"{t}.mask_downscaling.1", f + ("mask_ln1",))
    entries += conv(f"{t}.mask_downscaling.3", f + ("mask_conv2",))
    entries += layer_norm(f"{t}.mask_downscaling.4", f + ("mask_ln2",))
    entries += conv(f"{t}.mask_downscaling.6", f + ("mask_conv3",))
    return entries


def _attention(t: str, f: tuple) -> list[Entry]:
    return [
        e for p in ("q_proj", "k_proj", "v_proj", "out_proj") for e in linear(f"{t}.{p}", f + (p,))
    ]


def _mlp(t: str, f: tuple, num_layers: int) -> list[Entry]:
    return [e for i in range(num_layers) for e in linear(f"{t}.layers.{i}", f + (f"layers_{i}",))]


def mask_decoder(
    cfg: configs.MaskDecoderConfig, t: str = "mask_decoder", mlp=("lin1", "lin2")
) -> list[Entry]:
    """SAM's decoder; SAM 2's (`cfg.obj_score_token`) names its two-way MLPs `layers.0/1`
    (`mlp`) and adds the object-score token; SAM 3's tracker also its head
    (`cfg.obj_score_head`)."""
    f = ("mask_decoder",)
    tr, ft = f"{t}.transformer", f + ("transformer",)
    entries = []
    for i in range(cfg.transformer_depth):
        lt, lf = f"{tr}.layers.{i}", ft + (f"layers_{i}",)
        for name in ("self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token"):
            entries += _attention(f"{lt}.{name}", lf + (name,))
        for n in range(1, 5):
            entries += layer_norm(f"{lt}.norm{n}", lf + (f"norm{n}",))
        entries += linear(f"{lt}.mlp.{mlp[0]}", lf + ("mlp", "lin1"))
        entries += linear(f"{lt}.mlp.{mlp[1]}", lf + ("mlp", "lin2"))
    if cfg.obj_score_token:
        entries += tensor(f"{t}.obj_score_token.weight", f + ("obj_score_token",))
    entries += _attention(f"{tr}.final_attn_token_to_image", ft + ("final_attn_token_to_image",))
    entries += layer_norm(f"{tr}.norm_final_attn", ft + ("norm_final_attn",))

    entries += tensor(f"{t}.iou_token.weight", f + ("iou_token",))
    entries += tensor(f"{t}.mask_tokens.weight", f + ("mask_tokens",))
    entries += conv_transpose(f"{t}.output_upscaling.0", f + ("upscale_conv1",))
    entries += layer_norm(f"{t}.output_upscaling.1", f + ("upscale_ln",))
    entries += conv_transpose(f"{t}.output_upscaling.3", f + ("upscale_conv2",))
    for i in range(cfg.num_multimask_outputs + 1):
        entries += _mlp(
            f"{t}.output_hypernetworks_mlps.{i}", f + (f"output_hypernetworks_mlps_{i}",), 3
        )
    entries += _mlp(f"{t}.iou_prediction_head", f + ("iou_prediction_head",), cfg.iou_head_depth)
    if cfg.obj_score_head:
        entries += _mlp(f"{t}.pred_obj_score_head", f + ("pred_obj_score_head",), 3)
    return entries


def keymap(config: configs.ModelConfig) -> list[Entry]:
    """Every entry of a SAM / MedSAM checkpoint."""
    return vit_encoder(config.encoder) + prompt_encoder() + mask_decoder(config.mask_decoder)


CONVERTER = Converter("SAM (ViT)", "image_encoder.blocks.", keymap)
