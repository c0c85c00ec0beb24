"""SAM's architecture as one Flax module: a family's image encoder (its config's
`encoder.module`), the prompt encoder and the mask decoder every SAM-family model shares."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from eigjax.models import configs
from eigjax.models.layers import MATMUL_PRECISION, Precision
from eigjax.models.mask_decoder import MaskDecoder
from eigjax.models.prompt import Prompt
from eigjax.models.prompt_encoder import PromptEncoder


class Sam(nn.Module):
    """`encode` maps images to embeddings; `decode_input_frame` maps one prompt set (in the
    encoder input's frame) to mask logits. An image encoder gives its levels, finest first
    (one for SAM's ViT and TinyViT); the coarsest is the embedding. SAM 2 in image mode
    (its decoder takes high-resolution features): `no_mem_embed` is added to the
    embedding, and the two finest levels, through conv_s0 / conv_s1, are those features."""

    config: configs.ModelConfig
    precision: Precision = "highest"  # The decoder's arithmetic (layers.Precision).

    def setup(self):
        cfg = self.config
        dim = cfg.mask_decoder.transformer_dim
        self.image_encoder = cfg.encoder.module(cfg)
        if cfg.mask_decoder.high_res_features:
            self.no_mem_embed = self.param("no_mem_embed", nn.initializers.zeros, (dim,))
            self.conv_s0 = nn.Conv(dim // 8, (1, 1), precision=MATMUL_PRECISION["highest"])
            self.conv_s1 = nn.Conv(dim // 4, (1, 1), precision=MATMUL_PRECISION["highest"])
        self.prompt_encoder = PromptEncoder(cfg.prompt_encoder, cfg.embedding_size, cfg.image_size)
        self.mask_decoder = MaskDecoder(cfg.mask_decoder, MATMUL_PRECISION[self.precision])

    def encode(self, images: jax.Array) -> tuple[jax.Array, tuple | None]:
        """[B, S, S, 3] preprocessed → [B, h, w, C] embeddings, and for SAM 2 the
        high-resolution features ([B, 4h, 4w, C/8], [B, 2h, 2w, C/4]), else None."""
        levels = self.image_encoder(images)
        if not self.config.mask_decoder.high_res_features:
            return levels[-1], None
        embedding = levels[-1] + self.no_mem_embed.reshape(1, 1, 1, -1)
        return embedding, (self.conv_s0(levels[0]), self.conv_s1(levels[1]))

    def decode_input_frame(
        self, embedding: jax.Array, prompt: Prompt, high_res: tuple | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """One prompt set, every mask token.

        Args:
          embedding: [h, w, C] image embedding.
          prompt: coordinates in the encoder input's frame (`Prompt`).
          high_res: SAM 2's high-resolution features of the image (`encode`), or None.

        Returns:
          low-res logits [M, 4h, 4w] and predicted IoU [M] for the M mask tokens.
        """
        sparse, sparse_mask, dense = self.prompt_encoder(prompt)
        inputs = (embedding, self.prompt_encoder.dense_pe(), sparse, dense)
        if self.precision == "bfloat16":  # The params too: `decoder_params`.
            inputs = tuple(x.astype(jnp.bfloat16) for x in inputs)
            high_res = jax.tree_util.tree_map(lambda x: x.astype(jnp.bfloat16), high_res)
        masks, iou = self.mask_decoder(*inputs, sparse_mask, high_res)
        return masks.astype(jnp.float32), iou.astype(jnp.float32)

    def decode_heads(
        self, embedding: jax.Array, prompt: Prompt, high_res: tuple | None = None
    ) -> tuple[jax.Array, jax.Array, None]:
        """`decode_input_frame` and the heads' weights: None, a uniform prior over the
        heads (Chung & Moyer's q(θ); the calibrated control states its posterior)."""
        return (*self.decode_input_frame(embedding, prompt, high_res), None)

    def __call__(self, images: jax.Array, prompt: Prompt):
        """Both paths, for `init`: embeddings of images[0] decoded with one prompt set."""
        embedding, high_res = self.encode(images)
        first = jax.tree_util.tree_map(lambda x: x[0], high_res)
        return self.decode_input_frame(embedding[0], prompt, first)


def init_params(config: configs.ModelConfig, key: jax.Array) -> dict:
    """Randomly initialised params (only useful for shapes and tests)."""
    s = config.image_size
    images = jnp.zeros((1, s, s, 3))
    mask = jnp.zeros((config.low_res_size,) * 2)
    prompt = Prompt.create(jnp.zeros((1, 2)), jnp.ones(1, jnp.int32), jnp.zeros(4), mask)
    variables = Sam(config).init(key, images, prompt)
    return variables["params"]


def abstract_params(config: configs.ModelConfig) -> dict:
    """The params tree of `config` as `jax.ShapeDtypeStruct`s, without computing anything."""
    return jax.eval_shape(lambda: init_params(config, jax.random.key(0)))


def decoder_params(params: dict, precision: Precision) -> dict:
    """`params` as `Sam(config, precision)` computes with them: the mask decoder's cast to
    bfloat16 for "bfloat16" (the encoders and the prompt encoder stay float32)."""
    if precision != "bfloat16":
        return params
    cast = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.bfloat16), params["mask_decoder"])
    return {**params, "mask_decoder": cast}
