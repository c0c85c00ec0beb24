"""SAM 3's image encoder on the interactive path, in Flax, NHWC: the ViTDet trunk with 2-D
RoPE and tiled absolute position embeddings, and the SAM 2 neck of `Sam3DualViTDetNeck`.

Reference: the `sam3` package, `model/vitdet.py` (ViT, Block, Attention, the axial RoPE),
`model/necks.py` (`Sam3DualViTDetNeck`: its `sam2_convs`, what the tracker's heads read)
and `model/vl_combiner.py` (the coarsest level dropped). The detector's neck (`convs`), the
sine position encodings and the text encoder are not on the interactive path: not ported.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eigjax.models.layers import (
    PRECISION,
    ConvTranspose2x2,
    dense,
    gelu,
    layer_norm,
    window_partition,
    window_unpartition,
)


@dataclasses.dataclass(frozen=True)
class Sam3ViTConfig:
    """`model_builder._create_vit_backbone` and `_create_vit_neck` (defaults: SAM 3's).

    Blocks attend within `window_size` windows except `global_att_blocks` (the last block
    must be one: the trunk's output is taken there). RoPE is computed per block for its
    attention grid, interpolated to `window_size` (the size it was trained at).
    """

    embed_dim: int = 1024
    depth: int = 32
    num_heads: int = 16
    global_att_blocks: tuple[int, ...] = (7, 15, 23, 31)
    mlp_ratio: float = 4.625
    window_size: int = 24
    patch_size: int = 14
    pretrain_image_size: int = 336  # The absolute position table's grid (24 × 24, + cls).
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    d_model: int = 256  # The neck.
    scale_factors: tuple[float, ...] = (4.0, 2.0, 1.0)  # The 0.5 level is dropped (scalp).

    def __post_init__(self):
        if not self.global_att_blocks or self.global_att_blocks[-1] != self.depth - 1:
            raise ValueError(
                f"global_att_blocks {self.global_att_blocks}: the last must be block "
                f"{self.depth - 1}, where the reference takes the trunk's output"
            )

    def module(self, config) -> nn.Module:
        """The encoder of `config` (a `ModelConfig` with this encoder)."""
        return Sam3ImageEncoder(self)


def axial_rope(head_dim: int, side: int, trained_side: int, theta: float) -> np.ndarray:
    """float32 [side², head_dim/2, 2]: (cos, sin) of SAM 3's axial RoPE angles
    (`compute_axial_cis`) over a side × side grid, row-major, x fastest; the first
    head_dim/4 frequencies rotate by x, the rest by y; positions scaled by trained_side /
    side (`use_interp_rope`). float32 as the reference computes them."""
    f32 = np.float32
    freqs = f32(1) / (
        f32(theta) ** (np.arange(0, head_dim, 4)[: head_dim // 4].astype(f32) / f32(head_dim))
    )
    t = np.arange(side * side, dtype=f32)
    scale = f32(trained_side / side)
    t_x, t_y = (t % side) * scale, np.floor(t / side).astype(f32) * scale
    angles = np.concatenate([np.outer(t_x, freqs), np.outer(t_y, freqs)], axis=-1)
    return np.stack([np.cos(angles), np.sin(angles)], axis=-1).astype(f32)


def rotate(x: jax.Array, rope: jax.Array) -> jax.Array:
    """[B, L, heads, d] rotated pairwise: (x[2i], x[2i+1]) as a complex number times
    rope[L, i] (`apply_rotary_enc`)."""
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    cos, sin = rope[None, :, None, :, 0], rope[None, :, None, :, 1]
    return jnp.stack([a * cos - b * sin, a * sin + b * cos], axis=-1).reshape(x.shape)


class Attention(nn.Module):
    """Multi-head self-attention over [B, h, w, C] with 2-D RoPE on queries and keys."""

    config: Sam3ViTConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        b, h, w, c = x.shape
        head_dim = c // cfg.num_heads
        qkv = dense(3 * c, "qkv")(x).reshape(b, h * w, 3, cfg.num_heads, head_dim)
        rope = jnp.asarray(axial_rope(head_dim, h, cfg.window_size, cfg.rope_theta))
        q, k = rotate(qkv[:, :, 0], rope), rotate(qkv[:, :, 1], rope)
        out = attend(q * head_dim**-0.5, k, qkv[:, :, 2])
        return dense(c, "proj")(out.reshape(b, h, w, c))


# Queries per slice of a global attention (72 × 72 tokens at 1008 px): its probabilities
# are [heads, QUERY_CHUNK, L] at a time, not [heads, L, L] (1.7 GB in float32 for SAM 3).
QUERY_CHUNK = 1296


def attend(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """softmax(q kᵀ) v over [B, L, heads, d] (q already scaled), the queries taken
    QUERY_CHUNK at a time (each row's softmax is its own: the same numbers, bounded
    memory)."""

    def rows(q_rows):
        attn = jnp.einsum("bqhd,bkhd->bhqk", q_rows, k, precision=PRECISION)
        return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(attn, axis=-1), v, precision=PRECISION)

    b, length, heads, d = q.shape
    if length <= QUERY_CHUNK:
        return rows(q)
    n = -(-length // QUERY_CHUNK)
    padded = jnp.pad(q, ((0, 0), (0, n * QUERY_CHUNK - length), (0, 0), (0, 0)))
    chunks = padded.reshape(b, n, QUERY_CHUNK, heads, d).transpose(1, 0, 2, 3, 4)
    out = jax.lax.map(rows, chunks)  # [n, B, QUERY_CHUNK, heads, d]
    return out.transpose(1, 0, 2, 3, 4).reshape(b, n * QUERY_CHUNK, heads, d)[:, :length]


class Block(nn.Module):
    """Pre-norm block: (windowed) RoPE attention, then an MLP (timm's `Mlp`, exact GELU)."""

    config: Sam3ViTConfig
    window: int  # 0: global attention.

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        y = layer_norm(cfg.norm_eps, "norm1")(x)
        if self.window:
            h, w = y.shape[1:3]
            y, padded = window_partition(y, self.window)
        y = Attention(cfg, name="attn")(y)
        if self.window:
            y = window_unpartition(y, self.window, padded, (h, w))
        x = x + y
        hidden = int(cfg.embed_dim * cfg.mlp_ratio)
        y = layer_norm(cfg.norm_eps, "norm2")(x)
        return x + dense(cfg.embed_dim, "mlp_fc2")(gelu(dense(hidden, "mlp_fc1")(y)))


class ViT(nn.Module):
    """[B, S, S, 3] → [B, S/p, S/p, C]: patches, tiled absolute positions, ln_pre, blocks."""

    config: Sam3ViTConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        p = cfg.patch_size
        x = nn.Conv(
            cfg.embed_dim,
            (p, p),
            strides=p,
            padding="VALID",
            use_bias=False,
            precision=PRECISION,
            name="patch_embed",
        )(x)
        h, w = x.shape[1:3]
        grid = cfg.pretrain_image_size // p
        table = self.param("pos_embed", nn.initializers.zeros, (1, grid * grid + 1, cfg.embed_dim))
        positions = table[:, 1:].reshape(1, grid, grid, -1)  # The cls entry is unused.
        positions = jnp.tile(positions, (1, h // grid + 1, w // grid + 1, 1))[:, :h, :w]
        x = layer_norm(cfg.norm_eps, "ln_pre")(x + positions)
        for i in range(cfg.depth):
            window = 0 if i in cfg.global_att_blocks else cfg.window_size
            x = Block(cfg, window, name=f"blocks_{i}")(x)
        return x


def _transposed(x: jax.Array, features: int, name: str) -> jax.Array:
    """ConvTranspose2d(kernel 2, stride 2) in image layout: [B, H, W, C] → [B, 2H, 2W, F]."""
    y = ConvTranspose2x2(features, PRECISION, name=name)(x)  # [B, H, W, 2, 2, F]
    b, h, w = y.shape[:3]
    return y.transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, features)


class Sam2Neck(nn.Module):
    """The trunk's map → one d_model map per scale factor, finest first (`sam2_convs`):
    ×4 (two transposed convs with a GELU between), ×2 (one), ×1; then 1×1 and 3×3 convs."""

    config: Sam3ViTConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        cfg, dim = self.config, self.config.embed_dim
        out = []
        for i, scale in enumerate(cfg.scale_factors):
            y = x
            if scale == 4.0:
                y = _transposed(
                    gelu(_transposed(y, dim // 2, f"{i}_dconv_2x2_0")), dim // 4, f"{i}_dconv_2x2_1"
                )
            elif scale == 2.0:
                y = _transposed(y, dim // 2, f"{i}_dconv_2x2")
            elif scale != 1.0:
                raise ValueError(f"scale factor {scale}: the interactive path uses 4, 2 and 1")
            y = nn.Conv(cfg.d_model, (1, 1), precision=PRECISION, name=f"{i}_conv_1x1")(y)
            out.append(
                nn.Conv(cfg.d_model, (3, 3), padding=1, precision=PRECISION, name=f"{i}_conv_3x3")(
                    y
                )
            )
        return out


class Sam3ImageEncoder(nn.Module):
    """[B, S, S, 3] → the SAM 2 neck's levels, finest first ([B, 4h, 4w, 256], [B, 2h, 2w,
    256], [B, h, w, 256] with h = S / patch_size): what `Sam` reads as SAM 2's levels."""

    config: Sam3ViTConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> list[jax.Array]:
        return Sam2Neck(self.config, name="sam2_neck")(ViT(self.config, name="trunk")(x))
