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
    Linear,
    MLPBlock,
    gelu,
    interleave,
    layer_norm,
)


class Attention(nn.Module):
    """Multi-head attention whose q/k/v projections may shrink the width by `downsample_rate`.

    Three forms with the same weights (`q_proj`, `k_proj`, `v_proj`, `out_proj`):
      __call__          the reference's: project, attend, project back
      tokens_to_image   T tokens attend to N image rows that differ per prompt: the token
                        queries go to the image's width (q W_kᵀ, [T·heads, C]) instead of
                        projecting N rows, and the attention-weighted image is projected,
                        not each row; for T·heads < C·heads/head_dim this is fewer MACs
      image_to_tokens   N image rows attend to T tokens: each token's value is taken
                        through `out_proj` once (Σ_t a_t v_t) W_o = Σ_t a_t (v_t W_o); the
                        image queries are projected as usual when `image_shared` (under
                        `vmap` over prompts that projection is computed once), else the
                        token keys go to the image width
    The rearranged forms equal the reference to float32 rounding: a bias term that is
    constant over the softmax axis cancels, and attention weights sum to one.

    `key_mask` (bool [T], optional) drops token keys; used to exclude padding exactly.
    """

    dim: int
    num_heads: int
    downsample_rate: int = 1
    precision: jax.lax.Precision = PRECISION

    def setup(self):
        internal = self.dim // self.downsample_rate
        self.q_proj = Linear(self.dim, internal, self.precision)
        self.k_proj = Linear(self.dim, internal, self.precision)
        self.v_proj = Linear(self.dim, internal, self.precision)
        self.out_proj = Linear(internal, self.dim, self.precision)

    @property
    def _head_dim(self) -> int:
        return self.dim // self.downsample_rate // self.num_heads

    def _heads(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0], self.num_heads, self._head_dim)

    def _by_head(self, kernel: jax.Array) -> jax.Array:
        """[C, internal] → [C, heads, head_dim]."""
        return kernel.reshape(kernel.shape[0], self.num_heads, self._head_dim)

    def _softmax(self, scores, key_mask, axis):
        scores = scores / jnp.sqrt(jnp.asarray(self._head_dim, scores.dtype))
        if key_mask is not None:
            shape = [1] * scores.ndim
            shape[axis] = -1
            scores = jnp.where(key_mask.reshape(shape), scores, -jnp.inf)
        return jax.nn.softmax(scores, axis=axis)

    def __call__(
        self, q: jax.Array, k: jax.Array, v: jax.Array, key_mask: jax.Array | None = None
    ) -> jax.Array:
        p = self.precision
        q, k, v = (
            self._heads(self.q_proj(q)),
            self._heads(self.k_proj(k)),
            self._heads(self.v_proj(v)),
        )
        attn = self._softmax(jnp.einsum("qhd,khd->hqk", q, k, precision=p), key_mask, -1)
        out = jnp.einsum("hqk,khd->qhd", attn, v, precision=p)
        return self.out_proj(out.reshape(out.shape[0], -1))

    def tokens_to_image(self, q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
        """q: tokens [T, C]; k, v: image rows [N, C] → [T, C]."""
        p, t, h = self.precision, q.shape[0], self.num_heads
        q = self._heads(self.q_proj(q))  # [T, h, d]
        qk = jnp.einsum("thd,chd->cht", q, self._by_head(self.k_proj.kernel), precision=p)
        # Image rows first throughout: transposing [N, C] per prompt would cost more than
        # the products.
        scores = jnp.dot(k, qk.reshape(k.shape[1], h * t), precision=p)  # [N, h·T]
        attn = self._softmax(scores, None, 0)
        weighted = jnp.einsum("nx,nc->xc", attn, v, precision=p).reshape(h, t, -1)
        out = jnp.einsum("htc,chd->thd", weighted, self._by_head(self.v_proj.kernel), precision=p)
        out = out + self.v_proj.bias.reshape(1, h, -1)
        return self.out_proj(out.reshape(t, -1))

    def image_to_tokens(
        self,
        q: jax.Array,
        k: jax.Array,
        v: jax.Array,
        key_mask: jax.Array | None = None,
        image_shared: bool = False,
    ) -> jax.Array:
        """q: image rows [N, C]; k, v: tokens [T, C] → [N, C]."""
        p, h = self.precision, self.num_heads
        k, v = self._heads(self.k_proj(k)), self._heads(self.v_proj(v))  # [T, h, d]
        t = k.shape[0]
        if image_shared:
            scores = jnp.einsum("nhd,thd->nht", self._heads(self.q_proj(q)), k, precision=p)
        else:
            kq = jnp.einsum("thd,chd->cht", k, self._by_head(self.q_proj.kernel), precision=p)
            bias = jnp.einsum("hd,thd->ht", self.q_proj.bias.reshape(h, -1), k, precision=p)
            scores = jnp.dot(q, kq.reshape(q.shape[1], h * t), precision=p).reshape(-1, h, t)
            scores = scores + bias[None]
        attn = self._softmax(scores, key_mask, -1)  # [N, h, T]
        out_w = self.out_proj.kernel.reshape(h, self._head_dim, -1)
        vo = jnp.einsum("thd,hdc->htc", v, out_w, precision=p).reshape(h * t, -1)
        return (
            jnp.dot(attn.reshape(attn.shape[0], h * t), vo, precision=p) + self.out_proj.bias[None]
        )


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token→image, MLP, image→token; each residual then LayerNorm.

    In the first block the image rows are the embedding itself (the same for every prompt):
    its projections keep the reference's form, which `vmap` over prompts computes once.
    """

    config: configs.MaskDecoderConfig
    skip_first_layer_pe: bool
    precision: jax.lax.Precision = PRECISION

    @nn.compact
    def __call__(self, queries, keys, query_pe, key_pe, token_mask=None):
        cfg = self.config
        eps, rate, dim = cfg.norm_eps, cfg.attention_downsample_rate, cfg.transformer_dim
        p, first = self.precision, self.skip_first_layer_pe
        self_attn = Attention(dim, cfg.transformer_heads, precision=p, name="self_attn")
        if first:
            queries = self_attn(queries, queries, queries, token_mask)
        else:
            q = queries + query_pe
            queries = queries + self_attn(q, q, queries, token_mask)
        queries = layer_norm(eps, "norm1")(queries)

        k = keys + key_pe
        t2i = Attention(dim, cfg.transformer_heads, rate, p, name="cross_attn_token_to_image")
        attend = t2i if first else t2i.tokens_to_image
        queries = layer_norm(eps, "norm2")(queries + attend(queries + query_pe, k, keys))

        mlp = MLPBlock(cfg.transformer_mlp_dim, jax.nn.relu, p, name="mlp")
        queries = layer_norm(eps, "norm3")(queries + mlp(queries))

        i2t = Attention(dim, cfg.transformer_heads, rate, p, name="cross_attn_image_to_token")
        keys = keys + i2t.image_to_tokens(k, queries + query_pe, queries, token_mask, first)
        keys = layer_norm(eps, "norm4")(keys)
        return queries, keys


class TwoWayTransformer(nn.Module):
    """Tokens [T, C] and image [h*w, C] → updated tokens [T, C] and image [h*w, C]."""

    config: configs.MaskDecoderConfig
    precision: jax.lax.Precision = PRECISION

    @nn.compact
    def __call__(self, image, image_pe, tokens, token_mask=None):
        cfg = self.config
        queries, keys = tokens, image
        for i in range(cfg.transformer_depth):
            block = TwoWayAttentionBlock(cfg, i == 0, self.precision, name=f"layers_{i}")
            queries, keys = block(queries, keys, tokens, image_pe, token_mask)
        final = Attention(
            cfg.transformer_dim,
            cfg.transformer_heads,
            cfg.attention_downsample_rate,
            self.precision,
            name="final_attn_token_to_image",
        )
        queries = queries + final.tokens_to_image(queries + tokens, keys + image_pe, keys)
        return layer_norm(cfg.norm_eps, "norm_final_attn")(queries), keys


class MaskDecoder(nn.Module):
    """Predicts every mask token's low-res logits [M, 4h, 4w] and IoU [M] for one prompt set.

    SAM 2's variant (`config`): an object-score token before the IoU token (it attends
    like the others; SAM 2's image predictor does not read its score; SAM 3's head's logit
    is sown as "intermediates/object_score"), the high-resolution features added after
    each upscaling, a sigmoid on the IoU head.
    """

    config: configs.MaskDecoderConfig
    precision: jax.lax.Precision = PRECISION

    @nn.compact
    def __call__(
        self,
        image_embedding: jax.Array,
        image_pe: jax.Array,
        sparse: jax.Array,
        dense_prompt: jax.Array,
        sparse_mask: jax.Array | None = None,
        high_res: tuple[jax.Array, jax.Array] | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Args: image_embedding, image_pe, dense_prompt [h, w, C]; sparse [T, C];
        sparse_mask bool [T] (False drops a token as if it were absent); high_res the
        image's [4h, 4w, C/8] and [2h, 2w, C/4] features (SAM 2) or None."""
        cfg = self.config
        dim = cfg.transformer_dim
        num_masks = cfg.num_multimask_outputs + 1
        init = nn.initializers.normal(1.0)
        heads = [self.param("iou_token", init, (1, dim))]
        if cfg.obj_score_token:
            heads.insert(0, self.param("obj_score_token", init, (1, dim)))
        first = len(heads) - 1  # Index of the IoU token.
        mask_tokens = self.param("mask_tokens", init, (num_masks, dim))
        tokens = jnp.concatenate([*heads, mask_tokens, sparse], axis=0)
        token_mask = None
        if sparse_mask is not None:
            token_mask = jnp.concatenate([jnp.ones(len(heads) + num_masks, bool), sparse_mask])

        h, w, _ = image_embedding.shape
        src = (image_embedding + dense_prompt).reshape(h * w, dim)
        p = self.precision
        hs, src = TwoWayTransformer(cfg, p, name="transformer")(
            src, image_pe.reshape(h * w, dim), tokens, token_mask
        )
        iou_token_out = hs[first]
        mask_tokens_out = hs[first + 1 : first + 1 + num_masks]
        x = self._upscale(src.reshape(h, w, dim), high_res)
        with jax.named_scope("hypernetwork"):
            hyper_in = jnp.stack(
                [
                    MLP(dim, dim // 8, 3, p, name=f"output_hypernetworks_mlps_{i}")(
                        mask_tokens_out[i]
                    )
                    for i in range(num_masks)
                ]
            )  # [M, dim/8]
            masks = jnp.einsum("mc,ijabdec->mijabde", hyper_in, x, precision=p)
            masks = interleave(masks, levels=2)  # [M, 4h, 4w]
        iou = MLP(
            cfg.iou_head_hidden_dim, num_masks, cfg.iou_head_depth, p, name="iou_prediction_head"
        )(iou_token_out)
        if cfg.obj_score_head:  # Recorded, not used (`model.decode_scored` reads it).
            score = MLP(dim, 1, 3, p, name="pred_obj_score_head")(hs[0])[0]
            self.sow("intermediates", "object_score", score.astype(jnp.float32))
        return masks, jax.nn.sigmoid(iou) if cfg.iou_sigmoid else iou

    def _upscale(self, src: jax.Array, high_res) -> jax.Array:
        """[h, w, C] → sub-pixel layout [h, w, 2, 2, 2, 2, C/8] (`layers.interleave`); with
        SAM 2's high-resolution features added after each transposed conv."""
        cfg, p, dim = self.config, self.precision, self.config.transformer_dim
        with jax.named_scope("upscaling"):
            x = ConvTranspose2x2(dim // 4, p, name="upscale_conv1")(src)
            if high_res is not None:
                x = x + _subpixel(high_res[1], levels=1)
            x = gelu(layer_norm(cfg.upscale_eps, "upscale_ln")(x))
            x = ConvTranspose2x2(dim // 8, p, name="upscale_conv2")(x)
            if high_res is not None:
                x = x + _subpixel(high_res[0], levels=2)
            return gelu(x)


def _subpixel(feature: jax.Array, levels: int) -> jax.Array:
    """Image layout [2^L h, 2^L w, C] → sub-pixel layout [h, w, a_1, b_1, …, a_L, b_L, C]
    (the inverse of `layers.interleave`, channels last)."""
    n = 2**levels
    h, w, c = feature.shape[0] // n, feature.shape[1] // n, feature.shape[-1]
    x = feature.reshape(h, *([2] * levels), w, *([2] * levels), c)
    rows, cols = list(range(1, 1 + levels)), list(range(2 + levels, 2 + 2 * levels))
    order = [0, 1 + levels] + [axis for pair in zip(rows, cols, strict=True) for axis in pair]
    return x.transpose(*order, x.ndim - 1)
