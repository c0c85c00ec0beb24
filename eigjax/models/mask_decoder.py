"""SAM's two-way transformer and mask decoder (`mask_decoder.py`, `transformer.py`), unbatched.

One prompt set at a time: tokens [T, C] against an image embedding [h, w, C]. Under
`jax.vmap` over prompts with the image embedding unbatched, every projection that depends
only on the image (e.g. the first block's image keys) is computed once, not per prompt.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from eigjax.models import configs
from eigjax.models.layers import (
    MLP,
    PRECISION,
    ConvTranspose2x2,
    MLPBlock,
    dense,
    gelu,
    layer_norm,
)


class Attention(nn.Module):
    """Multi-head attention whose q/k/v projections may shrink the width by `downsample_rate`.

    `key_mask` (bool [Nk], optional) drops keys; used to exclude padding tokens exactly.
    """

    num_heads: int
    downsample_rate: int = 1

    @nn.compact
    def __call__(
        self, q: jax.Array, k: jax.Array, v: jax.Array, key_mask: jax.Array | None = None
    ) -> jax.Array:
        dim = q.shape[-1]
        internal = dim // self.downsample_rate
        head_dim = internal // self.num_heads
        q = dense(internal, "q_proj")(q).reshape(-1, self.num_heads, head_dim)
        k = dense(internal, "k_proj")(k).reshape(-1, self.num_heads, head_dim)
        v = dense(internal, "v_proj")(v).reshape(-1, self.num_heads, head_dim)
        attn = jnp.einsum("qhd,khd->hqk", q, k, precision=PRECISION) / jnp.sqrt(
            jnp.float32(head_dim)
        )
        if key_mask is not None:
            attn = jnp.where(key_mask[None, None, :], attn, -jnp.inf)
        attn = jax.nn.softmax(attn, axis=-1)
        out = jnp.einsum("hqk,khd->qhd", attn, v, precision=PRECISION)
        return dense(dim, "out_proj")(out.reshape(-1, internal))


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token→image, MLP, image→token; each residual then LayerNorm."""

    config: configs.MaskDecoderConfig
    skip_first_layer_pe: bool

    @nn.compact
    def __call__(self, queries, keys, query_pe, key_pe, token_mask=None):
        cfg = self.config
        eps, rate = cfg.norm_eps, cfg.attention_downsample_rate
        self_attn = Attention(cfg.transformer_heads, name="self_attn")
        if self.skip_first_layer_pe:
            queries = self_attn(queries, queries, queries, token_mask)
        else:
            q = queries + query_pe
            queries = queries + self_attn(q, q, queries, token_mask)
        queries = layer_norm(eps, "norm1")(queries)

        k = keys + key_pe
        t2i = Attention(cfg.transformer_heads, rate, name="cross_attn_token_to_image")
        queries = layer_norm(eps, "norm2")(queries + t2i(queries + query_pe, k, keys))

        mlp = MLPBlock(cfg.transformer_mlp_dim, activation=jax.nn.relu, name="mlp")
        queries = layer_norm(eps, "norm3")(queries + mlp(queries))

        i2t = Attention(cfg.transformer_heads, rate, name="cross_attn_image_to_token")
        keys = keys + i2t(k, queries + query_pe, queries, token_mask)
        keys = layer_norm(eps, "norm4")(keys)
        return queries, keys


class TwoWayTransformer(nn.Module):
    """Tokens [T, C] and image [h*w, C] → updated tokens [T, C] and image [h*w, C]."""

    config: configs.MaskDecoderConfig

    @nn.compact
    def __call__(self, image, image_pe, tokens, token_mask=None):
        cfg = self.config
        queries, keys = tokens, image
        for i in range(cfg.transformer_depth):
            block = TwoWayAttentionBlock(cfg, skip_first_layer_pe=i == 0, name=f"layers_{i}")
            queries, keys = block(queries, keys, tokens, image_pe, token_mask)
        final = Attention(
            cfg.transformer_heads, cfg.attention_downsample_rate, name="final_attn_token_to_image"
        )
        queries = queries + final(queries + tokens, keys + image_pe, keys)
        return layer_norm(cfg.norm_eps, "norm_final_attn")(queries), keys


class MaskDecoder(nn.Module):
    """Predicts every mask token's low-res logits [M, 4h, 4w] and IoU [M] for one prompt set."""

    config: configs.MaskDecoderConfig

    @nn.compact
    def __call__(
        self,
        image_embedding: jax.Array,
        image_pe: jax.Array,
        sparse: jax.Array,
        dense_prompt: jax.Array,
        sparse_mask: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Args: image_embedding, image_pe, dense_prompt [h, w, C]; sparse [T, C];
        sparse_mask bool [T] (False drops a token as if it were absent)."""
        cfg = self.config
        dim = cfg.transformer_dim
        num_masks = cfg.num_multimask_outputs + 1
        init = nn.initializers.normal(1.0)
        iou_token = self.param("iou_token", init, (1, dim))
        mask_tokens = self.param("mask_tokens", init, (num_masks, dim))
        tokens = jnp.concatenate([iou_token, mask_tokens, sparse], axis=0)
        token_mask = None
        if sparse_mask is not None:
            token_mask = jnp.concatenate([jnp.ones(1 + num_masks, bool), sparse_mask])

        h, w, _ = image_embedding.shape
        src = (image_embedding + dense_prompt).reshape(h * w, dim)
        hs, src = TwoWayTransformer(cfg, name="transformer")(
            src, image_pe.reshape(h * w, dim), tokens, token_mask
        )
        iou_token_out = hs[0]
        mask_tokens_out = hs[1 : 1 + num_masks]

        x = ConvTranspose2x2(dim // 4, name="upscale_conv1")(src.reshape(h, w, dim))
        x = gelu(layer_norm(cfg.upscale_eps, "upscale_ln")(x))
        x = gelu(ConvTranspose2x2(dim // 8, name="upscale_conv2")(x))  # [4h, 4w, dim/8]
        hyper_in = jnp.stack(
            [
                MLP(dim, dim // 8, 3, name=f"output_hypernetworks_mlps_{i}")(mask_tokens_out[i])
                for i in range(num_masks)
            ]
        )  # [M, dim/8]
        masks = jnp.einsum("mc,ijc->mij", hyper_in, x, precision=PRECISION)
        iou = MLP(
            cfg.iou_head_hidden_dim, num_masks, cfg.iou_head_depth, name="iou_prediction_head"
        )(iou_token_out)
        return masks, iou
