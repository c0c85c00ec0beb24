"""Key map of LiteMedSAM's checkpoint (`lite_medsam.pth`): TinyViT encoder + SAM heads.

Each Conv2d_BN (`*.c.weight` + `*.bn.*`) becomes one biased conv: the BatchNorm's running
statistics are folded in exactly as the reference's `Conv2d_BN.fuse` does.
"""

import numpy as np

from eigjax.models import configs
from eigjax.models.tiny_vit.image_encoder import TinyViTConfig
from weights_convert import sam
from weights_convert.keymap import Converter, Entry, layer_norm, linear, tensor


def conv_bn(t: str, f: tuple, eps: float) -> list[Entry]:
    """Conv2d_BN at torch prefix `t` → flax conv `f` with the BatchNorm folded in."""
    bn = tuple(f"{t}.bn.{n}" for n in ("weight", "bias", "running_mean", "running_var"))

    def kernel(w, gamma, beta, mean, var):
        scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
        return (w * scale[:, None, None, None]).transpose(2, 3, 1, 0)

    def bias(gamma, beta, mean, var):
        scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
        return beta - mean * scale

    return [
        Entry((f"{t}.c.weight", *bn), f + ("kernel",), kernel),
        Entry(bn, f + ("bias",), bias),
    ]


def _merge(t: str, f: tuple, eps: float) -> list[Entry]:
    return [e for n in ("conv1", "conv2", "conv3") for e in conv_bn(f"{t}.{n}", f + (n,), eps)]


def encoder(cfg: TinyViTConfig, t: str = "image_encoder") -> list[Entry]:
    f = ("image_encoder",)
    eps = cfg.bn_eps
    entries = conv_bn(f"{t}.patch_embed.seq.0", f + ("stem1",), eps)
    entries += conv_bn(f"{t}.patch_embed.seq.2", f + ("stem2",), eps)
    for i, depth in enumerate(cfg.depths):
        for j in range(depth):
            bt, bf = f"{t}.layers.{i}.blocks.{j}", f + (f"layers_{i}_blocks_{j}",)
            if i == 0:
                entries += _merge(bt, bf, eps)  # MBConv: conv1, conv2, conv3 as well.
                continue
            entries += tensor(f"{bt}.attn.attention_biases", bf + ("attn", "attention_biases"))
            entries += layer_norm(f"{bt}.attn.norm", bf + ("attn", "norm"))
            entries += linear(f"{bt}.attn.qkv", bf + ("attn", "qkv"))
            entries += linear(f"{bt}.attn.proj", bf + ("attn", "proj"))
            entries += conv_bn(f"{bt}.local_conv", bf + ("local_conv",), eps)
            entries += layer_norm(f"{bt}.mlp.norm", bf + ("mlp_norm",))
            entries += linear(f"{bt}.mlp.fc1", bf + ("fc1",))
            entries += linear(f"{bt}.mlp.fc2", bf + ("fc2",))
        if i < len(cfg.depths) - 1:
            entries += _merge(f"{t}.layers.{i}.downsample", f + (f"layers_{i}_merge",), eps)
    return entries + sam.neck(f"{t}.neck", f + ("neck",))


def keymap(config: configs.ModelConfig) -> list[Entry]:
    return encoder(config.encoder) + sam.prompt_encoder() + sam.mask_decoder(config.mask_decoder)


def ignored(key: str) -> bool:
    """BatchNorm step counters carry nothing inference needs."""
    return key.endswith(".bn.num_batches_tracked")


CONVERTER = Converter(
    "TinyViT (LiteMedSAM, MobileSAM)", "image_encoder.patch_embed.seq.", keymap, ignored
)
