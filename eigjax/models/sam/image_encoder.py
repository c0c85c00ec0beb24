"""SAM's ViT image encoder (`segment_anything/modeling/image_encoder.py`) in Flax, NHWC,
and its config."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eigjax.models.layers import (
    PRECISION,
    ConvTranspose,
    MLPBlock,
    Neck,
    dense,
    layer_norm,
    window_partition,
    window_unpartition,
)


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

    def module(self, config) -> nn.Module:
        """The encoder of `config` (a `ModelConfig` with this encoder)."""
        return ImageEncoderViT(self, config.image_size)


def relative_position_index(q_size: int, k_size: int) -> np.ndarray:
    """int [q_size, k_size]: row of the relative-position table for each (query, key) pair."""
    q_coords = np.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k_coords = np.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    return ((q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)).astype(np.int64)


def add_decomposed_rel_pos(
    attn: jax.Array,
    q: jax.Array,
    rel_pos_h: jax.Array,
    rel_pos_w: jax.Array,
    size: tuple[int, int],
) -> jax.Array:
    """Adds MViTv2's decomposed relative positions to attention logits.

    Args:
      attn: [B, h*w, h*w] attention logits.
      q: [B, h*w, C] queries (unscaled).
      rel_pos_h: [2h - 1, C] and rel_pos_w: [2w - 1, C] tables.
      size: (h, w) of the query and key grids.

    Returns:
      [B, h*w, h*w] logits.
    """
    h, w = size
    r_h = rel_pos_h[relative_position_index(h, h)]  # [h, h, C]
    r_w = rel_pos_w[relative_position_index(w, w)]  # [w, w, C]
    b, _, c = q.shape
    r_q = q.reshape(b, h, w, c)
    rel_h = jnp.einsum("bhwc,hkc->bhwk", r_q, r_h, precision=PRECISION)
    rel_w = jnp.einsum("bhwc,wkc->bhwk", r_q, r_w, precision=PRECISION)
    attn = attn.reshape(b, h, w, h, w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    return attn.reshape(b, h * w, h * w)


class Attention(nn.Module):
    """Multi-head self-attention over a [B, H, W, C] grid, with decomposed relative positions."""

    num_heads: int
    qkv_bias: bool
    use_rel_pos: bool
    input_size: tuple[int, int]  # Grid the relative-position tables are sized for.

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        head_dim = c // self.num_heads
        qkv = dense(3 * c, "qkv", use_bias=self.qkv_bias)(x)
        qkv = qkv.reshape(b, h * w, 3, self.num_heads, head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, b * self.num_heads, h * w, head_dim)

        attn = jnp.einsum("bqd,bkd->bqk", q * head_dim**-0.5, k, precision=PRECISION)
        if self.use_rel_pos:
            rel_pos_h = self.param(
                "rel_pos_h", nn.initializers.zeros, (2 * self.input_size[0] - 1, head_dim)
            )
            rel_pos_w = self.param(
                "rel_pos_w", nn.initializers.zeros, (2 * self.input_size[1] - 1, head_dim)
            )
            attn = add_decomposed_rel_pos(attn, q, rel_pos_h, rel_pos_w, (h, w))
        attn = jax.nn.softmax(attn, axis=-1)
        x = jnp.einsum("bqk,bkd->bqd", attn, v, precision=PRECISION)
        x = x.reshape(b, self.num_heads, h, w, head_dim).transpose(0, 2, 3, 1, 4)
        return dense(c, "proj")(x.reshape(b, h, w, c))


class Adapter(nn.Module):
    """SAM-Med2D's `Adapter_Layer`: channel gate, then a down/up spatial path, residual, norm.

    x [B, H, W, C] → LayerNorm(x' + spatial(x')), x' = x * sigmoid(MLP(mean_hw x)).
    """

    mlp_ratio: float
    eps: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        gate = jnp.mean(x, axis=(1, 2))
        gate = jax.nn.relu(dense(int(c * self.mlp_ratio), "channel_fc1", use_bias=False)(gate))
        gate = jax.nn.sigmoid(dense(c, "channel_fc2", use_bias=False)(gate))
        x_channel = gate[:, None, None, :] * x
        y = nn.Conv(
            c,
            (3, 3),
            strides=2,
            padding=1,
            use_bias=False,
            precision=PRECISION,
            name="spatial_conv",
        )(x_channel)
        y = ConvTranspose(c, 4, 2, 1, use_bias=False, name="spatial_deconv")(jax.nn.relu(y))
        return layer_norm(self.eps, "norm")(x + jax.nn.relu(y))


class Block(nn.Module):
    """Pre-norm transformer block; windowed attention unless `window_size` is 0."""

    config: ViTConfig
    window_size: int
    grid_size: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        shortcut = x
        x = layer_norm(cfg.norm_eps, "norm1")(x)
        attn_size = self.window_size or self.grid_size
        attention = Attention(
            num_heads=cfg.num_heads,
            qkv_bias=cfg.qkv_bias,
            use_rel_pos=cfg.use_rel_pos,
            input_size=(attn_size, attn_size),
            name="attn",
        )
        if self.window_size > 0:
            h, w = x.shape[1], x.shape[2]
            windows, padded_hw = window_partition(x, self.window_size)
            x = window_unpartition(attention(windows), self.window_size, padded_hw, (h, w))
        else:
            x = attention(x)
        x = shortcut + x
        mlp = MLPBlock(int(x.shape[-1] * cfg.mlp_ratio), name="mlp")
        x_norm = layer_norm(cfg.norm_eps, "norm2")(x)
        if cfg.adapter:
            adapter = Adapter(cfg.adapter_mlp_ratio, cfg.adapter_eps, name="Adapter")
            return x + mlp(x_norm) + adapter(x_norm)
        return x + mlp(x_norm)


class ImageEncoderViT(nn.Module):
    """[B, S, S, 3] preprocessed images → its one level: ([B, S/16, S/16, out_chans],)."""

    config: ViTConfig
    image_size: int

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array]:
        cfg = self.config
        grid = self.image_size // cfg.patch_size
        patch = (cfg.patch_size, cfg.patch_size)
        x = nn.Conv(
            cfg.embed_dim,
            patch,
            strides=patch,
            padding="VALID",
            precision=PRECISION,
            name="patch_embed",
        )(x)
        x = x + self.param("pos_embed", nn.initializers.zeros, (1, grid, grid, cfg.embed_dim))
        for i in range(cfg.depth):
            window = 0 if i in cfg.global_attn_indexes else cfg.window_size
            x = Block(cfg, window_size=window, grid_size=grid, name=f"blocks_{i}")(x)
        return (Neck(cfg.out_chans, cfg.neck_eps, name="neck")(x),)
