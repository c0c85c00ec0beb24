"""SAM 2's image encoder in Flax, NHWC: the Hiera trunk and the FPN neck.

Reference: the `sam2` package, `modeling/backbones/hieradet.py` (Hiera, MultiScaleBlock,
MultiScaleAttention), `backbones/image_encoder.py` (FpnNeck, ImageEncoder with its scalp)
and `backbones/utils.py` (window partition, PatchEmbed). The position encoding the neck
also computes feeds only the video memory: it is not ported.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eigjax.models.layers import (
    PRECISION,
    dense,
    gelu,
    layer_norm,
    window_partition,
    window_unpartition,
)


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

    def module(self, config) -> nn.Module:
        """The encoder of `config` (a `ModelConfig` with this encoder)."""
        return Sam2ImageEncoder(self)


def bicubic_matrix(in_size: int, out_size: int) -> np.ndarray:
    """float64 [out, in]: 1-D bicubic resampling as torch's interpolate(mode="bicubic",
    align_corners=False): source x = (i + 0.5) · in / out − 0.5 (not clamped), Keys' cubic
    convolution with A = −0.75 on the 4 nearest taps, indexes clamped to the border."""
    a = -0.75

    def near(t):  # |t| ≤ 1
        return ((a + 2) * t - (a + 3)) * t * t + 1

    def far(t):  # 1 < |t| < 2
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a

    m = np.zeros((out_size, in_size))
    for i in range(out_size):
        x = (i + 0.5) * in_size / out_size - 0.5
        x0 = int(np.floor(x))
        t = x - x0
        for offset, w in zip(
            (-1, 0, 1, 2), (far(t + 1), near(t), near(1 - t), far(2 - t)), strict=True
        ):
            m[i, min(max(x0 + offset, 0), in_size - 1)] += w
    return m


def max_pool(x: jax.Array, stride: int) -> jax.Array:
    """[B, H, W, C] → [B, H/s, W/s, C]: nn.MaxPool2d(kernel=stride=s), floor mode."""
    b, h, w, c = x.shape
    x = x[:, : h // stride * stride, : w // stride * stride]
    return x.reshape(b, h // stride, stride, w // stride, stride, c).max(axis=(2, 4))


class MultiScaleAttention(nn.Module):
    """Self-attention over [B, H, W, C] tokens; with `q_stride`, the queries are max-pooled
    first, so the output is [B, H/s, W/s, dim_out]."""

    dim_out: int
    num_heads: int
    q_stride: int = 0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, _ = x.shape
        qkv = dense(3 * self.dim_out, "qkv")(x).reshape(b, h * w, 3, self.num_heads, -1)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # [B, N, heads, d]
        if self.q_stride:
            q = max_pool(q.reshape(b, h, w, -1), self.q_stride)
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.num_heads, -1)
        scale = q.shape[-1] ** -0.5
        attn = jnp.einsum("bqhd,bkhd->bhqk", q * scale, k, precision=PRECISION)
        out = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(attn, axis=-1), v, precision=PRECISION)
        return dense(self.dim_out, "proj")(out.reshape(b, h, w, -1))


class MultiScaleBlock(nn.Module):
    """Pre-norm block: (windowed) attention with optional query pooling, then an MLP; a
    projected, pooled shortcut where the width changes."""

    dim_out: int
    num_heads: int
    window_size: int
    q_stride: int
    config: HieraConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        shortcut = x
        x = layer_norm(cfg.norm_eps, "norm1")(x)
        if x.shape[-1] != self.dim_out:
            shortcut = dense(self.dim_out, "proj")(x)
            if self.q_stride:
                shortcut = max_pool(shortcut, self.q_stride)
        window = self.window_size
        if window > 0:
            x, padded = window_partition(x, window)
        attn = MultiScaleAttention(self.dim_out, self.num_heads, self.q_stride, name="attn")
        x = attn(x)
        if window > 0:
            h, w = shortcut.shape[1:3]
            if self.q_stride:  # The windows shrank with the queries.
                window //= self.q_stride
                padded = (h + (-h) % window, w + (-w) % window)
            x = window_unpartition(x, window, padded, (h, w))
        x = shortcut + x
        hidden = int(self.dim_out * cfg.mlp_ratio)
        y = layer_norm(cfg.norm_eps, "norm2")(x)
        y = dense(self.dim_out, "mlp_layers_1")(gelu(dense(hidden, "mlp_layers_0")(y)))
        return x + y


class Hiera(nn.Module):
    """[B, S, S, 3] → the trunk's stage outputs, finest first ([B, S/4, S/4, C], …)."""

    config: HieraConfig

    def _pos_embed(self, h: int, w: int) -> jax.Array:
        """The background embedding resized bicubically to (h, w), plus the window
        embedding tiled over it: [1, h, w, C]."""
        cfg = self.config
        bh, bw = cfg.window_pos_embed_bkg_spatial_size
        ws = cfg.window_spec[0]
        background = self.param("pos_embed", nn.initializers.zeros, (1, bh, bw, cfg.embed_dim))
        window = self.param("pos_embed_window", nn.initializers.zeros, (1, ws, ws, cfg.embed_dim))
        rows = jnp.asarray(bicubic_matrix(bh, h), jnp.float32)
        cols = jnp.asarray(bicubic_matrix(bw, w), jnp.float32)
        resized = jnp.einsum("ij,bjkc,lk->bilc", rows, background, cols, precision=PRECISION)
        return resized + jnp.tile(window, (1, h // ws, w // ws, 1))

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        cfg = self.config
        k, s, p = cfg.patch_kernel, cfg.patch_stride, cfg.patch_padding
        x = nn.Conv(
            cfg.embed_dim, (k, k), strides=s, padding=p, precision=PRECISION, name="patch_embed"
        )(x)
        x = x + self._pos_embed(*x.shape[1:3])
        stage_ends = list(np.cumsum(cfg.stages) - 1)
        pool_blocks = [end + 1 for end in stage_ends[:-1]][: cfg.q_pool]
        dim, heads, stage, outputs = cfg.embed_dim, cfg.num_heads, 0, []
        for i in range(sum(cfg.stages)):
            window = 0 if i in cfg.global_att_blocks else cfg.window_spec[stage]
            if i - 1 in stage_ends:  # The first block of a stage: wider, more heads.
                dim, heads, stage = dim * 2, heads * 2, stage + 1
            q_stride = cfg.q_stride if i in pool_blocks else 0
            x = MultiScaleBlock(dim, heads, window, q_stride, cfg, name=f"blocks_{i}")(x)
            if i in stage_ends:
                outputs.append(x)
        return outputs


class FpnNeck(nn.Module):
    """The trunk's levels (finest first) → d_model features per level, top-down (nearest
    ×2) added where `fpn_top_down_levels` says; the coarsest `scalp` levels dropped."""

    config: HieraConfig

    @nn.compact
    def __call__(self, levels: list[jax.Array]) -> list[jax.Array]:
        cfg = self.config
        n = len(levels) - 1
        out = [None] * len(levels)
        previous = None
        for i in range(n, -1, -1):  # Coarsest first; the reference's convs[n - i].
            conv = nn.Conv(cfg.d_model, (1, 1), precision=PRECISION, name=f"convs_{n - i}")
            lateral = conv(levels[i])
            if i in cfg.fpn_top_down_levels and previous is not None:
                previous = lateral + jnp.repeat(jnp.repeat(previous, 2, axis=1), 2, axis=2)
            else:
                previous = lateral
            out[i] = previous
        return out[: len(out) - cfg.scalp] if cfg.scalp else out


class Sam2ImageEncoder(nn.Module):
    """[B, S, S, 3] → the neck's levels kept, finest first (SAM 2's `ImageEncoder`)."""

    config: HieraConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        return FpnNeck(self.config, name="neck")(Hiera(self.config, name="trunk")(x))
