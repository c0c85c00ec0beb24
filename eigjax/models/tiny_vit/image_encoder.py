"""TinyViT image encoder (LiteMedSAM's `tiny_vit_sam.py`) in Flax, NHWC, inference form,
and its config.

Every Conv2d + BatchNorm2d pair of the reference is one biased conv here: the converter
folds the running statistics into its kernel and bias (`Conv2d_BN.fuse`).
"""

import dataclasses
import itertools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eigjax.models.layers import (
    PRECISION,
    Neck,
    dense,
    gelu,
    layer_norm,
    window_partition,
    window_unpartition,
)


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

    def module(self, config) -> nn.Module:
        """The encoder of `config` (a `ModelConfig` with this encoder)."""
        return TinyViT(self)


def conv_bn(features: int, kernel: int, name: str, stride: int = 1, groups: int = 1) -> nn.Conv:
    """A Conv2d_BN with the BatchNorm folded in; padding kernel // 2 as the reference."""
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=stride,
        padding=kernel // 2,
        feature_group_count=groups,
        precision=PRECISION,
        name=name,
    )


def attention_bias_index(window: int) -> np.ndarray:
    """int [N, N], N = window²: column of `attention_biases` for each (query, key) pair.

    Offsets (|dy|, |dx|) are numbered in order of first appearance, as the reference does.
    """
    points = list(itertools.product(range(window), range(window)))
    offsets: dict[tuple[int, int], int] = {}
    idxs = []
    for p1 in points:
        for p2 in points:
            offset = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
            idxs.append(offsets.setdefault(offset, len(offsets)))
    return np.array(idxs).reshape(len(points), len(points))


class MBConv(nn.Module):
    expand_ratio: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        hidden = int(c * self.expand_ratio)
        y = gelu(conv_bn(hidden, 1, "conv1")(x))
        y = gelu(conv_bn(hidden, 3, "conv2", groups=hidden)(y))
        y = conv_bn(c, 1, "conv3")(y)
        return gelu(y + x)


class PatchMerging(nn.Module):
    out_dim: int
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = gelu(conv_bn(self.out_dim, 1, "conv1")(x))
        x = gelu(conv_bn(self.out_dim, 3, "conv2", stride=self.stride, groups=self.out_dim)(x))
        return conv_bn(self.out_dim, 1, "conv3")(x)


class Attention(nn.Module):
    """Self-attention over a window's tokens [B, N, C] with a learned bias per offset."""

    num_heads: int
    window: int
    eps: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, n, c = x.shape
        key_dim = c // self.num_heads
        index = attention_bias_index(self.window)
        biases = self.param(
            "attention_biases", nn.initializers.zeros, (self.num_heads, int(index.max()) + 1)
        )
        x = layer_norm(self.eps, "norm")(x)
        qkv = dense(3 * c, "qkv")(x).reshape(b, n, self.num_heads, 3 * key_dim)
        q, k, v = jnp.split(qkv, 3, axis=-1)  # Per head: [q | k | v], as the reference.
        attn = jnp.einsum("bqhd,bkhd->bhqk", q, k, precision=PRECISION) * key_dim**-0.5
        attn = jax.nn.softmax(attn + biases[None, :, index], axis=-1)
        out = jnp.einsum("bhqk,bkhd->bqhd", attn, v, precision=PRECISION)
        return dense(c, "proj")(out.reshape(b, n, c))


class TinyViTBlock(nn.Module):
    num_heads: int
    window: int
    config: TinyViTConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        b, h, w, c = x.shape
        windows, padded = window_partition(x, self.window)  # Zero pad before the norm.
        attn = Attention(self.num_heads, self.window, cfg.norm_eps, name="attn")
        y = attn(windows.reshape(-1, self.window**2, c))
        y = window_unpartition(y.reshape(windows.shape), self.window, padded, (h, w))
        x = x + y
        x = conv_bn(c, cfg.local_conv_size, "local_conv", groups=c)(x)
        mlp_in = layer_norm(cfg.norm_eps, "mlp_norm")(x)
        mlp = dense(c, "fc2")(gelu(dense(int(c * cfg.mlp_ratio), "fc1")(mlp_in)))
        return x + mlp


class TinyViT(nn.Module):
    """[B, S, S, 3] preprocessed images → its one level: ([B, S/p, S/p, out_chans],)."""

    config: TinyViTConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array]:
        cfg = self.config
        dims, k, s = cfg.embed_dims, cfg.stem_kernel, cfg.stem_stride
        x = gelu(conv_bn(dims[0] // 2, k, "stem1", stride=s)(x))
        x = conv_bn(dims[0], k, "stem2", stride=s)(x)
        for i, depth in enumerate(cfg.depths):
            for j in range(depth):
                name = f"layers_{i}_blocks_{j}"
                if i == 0:
                    x = MBConv(cfg.mbconv_expand_ratio, name=name)(x)
                else:
                    x = TinyViTBlock(cfg.num_heads[i], cfg.window_sizes[i], cfg, name=name)(x)
            if i < len(cfg.depths) - 1:
                merge = PatchMerging(dims[i + 1], cfg.merge_strides[i], name=f"layers_{i}_merge")
                x = merge(x)
        return (Neck(cfg.out_chans, cfg.neck_eps, name="neck")(x),)
