"""Key map of SAM-Med2D's checkpoint (`sam-med2d_b.pth`, `{'model': …, 'optimizer': …}`).

sam_vit_b plus an `Adapter` in every block. A checkpoint whose grid differs from the
model's (e.g. SAM's 1024 px weights for the 256 px model) has its `pos_embed` and
global-attention `rel_pos` tables resized bilinearly, as SAM-Med2D's `load_from` does.
"""

import numpy as np

from eigjax.models import configs
from eigjax.models.resample import bilinear_matrix
from weights_convert import sam
from weights_convert.keymap import Converter, Entry, conv, layer_norm, linear


def _resize_pos_embed(grid: int):
    def fn(pos):  # [1, g, g, C] → [1, grid, grid, C]
        if pos.shape[1:3] == (grid, grid):
            return pos
        r_h, r_w = bilinear_matrix(pos.shape[1], grid), bilinear_matrix(pos.shape[2], grid)
        return np.einsum("ij,bjkc,lk->bilc", r_h, pos.astype(np.float64), r_w)

    return fn


def _resize_rel_pos(length: int):
    def fn(table):  # [L, C] → [length, C]
        if table.shape[0] == length:
            return table
        return bilinear_matrix(table.shape[0], length) @ table.astype(np.float64)

    return fn


def _flipped_transpose_kernel(w):
    """ConvTranspose2d (in, out, k, k) → the flipped conv form (k, k, in, out) of
    `layers.ConvTranspose`."""
    return w[:, :, ::-1, ::-1].transpose(2, 3, 0, 1)


def adapter(t: str, f: tuple) -> list[Entry]:
    """`Adapter_Layer`: channel MLP and spatial convs without biases, then a LayerNorm."""
    return [
        *linear(f"{t}.channel.0", f + ("channel_fc1",), bias=False),
        *linear(f"{t}.channel.2", f + ("channel_fc2",), bias=False),
        *conv(f"{t}.spatial.0", f + ("spatial_conv",), bias=False),
        Entry(
            (f"{t}.spatial.2.weight",), f + ("spatial_deconv", "kernel"), _flipped_transpose_kernel
        ),
        *layer_norm(f"{t}.norm", f + ("norm",)),
    ]


def keymap(config: configs.ModelConfig) -> list[Entry]:
    enc = config.encoder
    grid = config.embedding_size
    resize = {"image_encoder.pos_embed": _resize_pos_embed(grid)}
    for i in range(enc.depth):
        size = grid if i in enc.global_attn_indexes else enc.window_size
        for axis in ("h", "w"):
            resize[f"image_encoder.blocks.{i}.attn.rel_pos_{axis}"] = _resize_rel_pos(2 * size - 1)
    entries = []
    for e in sam.vit_encoder(enc):
        if e.sources[0] in resize:
            e = Entry(e.sources, e.target, resize[e.sources[0]])
        entries.append(e)
    for i in range(enc.depth):
        entries += adapter(
            f"image_encoder.blocks.{i}.Adapter", ("image_encoder", f"blocks_{i}", "Adapter")
        )
    return entries + sam.prompt_encoder() + sam.mask_decoder(config.mask_decoder)


CONVERTER = Converter("SAM (ViT)", "image_encoder.blocks.", keymap)
