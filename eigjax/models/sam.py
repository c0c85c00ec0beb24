"""The whole SAM-family network as one Flax module: image encoder, prompt encoder, decoder."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from eigjax.models import configs
from eigjax.models.image_encoder import ImageEncoderViT
from eigjax.models.layers import MATMUL_PRECISION, Precision
from eigjax.models.mask_decoder import MaskDecoder
from eigjax.models.prompt import Prompt
from eigjax.models.prompt_encoder import PromptEncoder
from eigjax.models.tiny_vit import TinyViT


class Sam(nn.Module):
    """`encode` maps images to embeddings; `decode_input_frame` maps one prompt set (in the
    encoder input's frame) to mask logits."""

    config: configs.ModelConfig
    precision: Precision = "highest"  # The decoder's arithmetic (layers.Precision).

    def setup(self):
        cfg = self.config
        if isinstance(cfg.encoder, configs.TinyViTConfig):
            self.image_encoder = TinyViT(cfg.encoder)
        else:
            self.image_encoder = ImageEncoderViT(cfg.encoder, cfg.image_size)
        self.prompt_encoder = PromptEncoder(cfg.prompt_encoder, cfg.embedding_size, cfg.image_size)
        self.mask_decoder = MaskDecoder(cfg.mask_decoder, MATMUL_PRECISION[self.precision])

    def encode(self, images: jax.Array) -> jax.Array:
        """[B, S, S, 3] preprocessed → [B, h, w, C] embeddings."""
        return self.image_encoder(images)

    def decode_input_frame(
        self, embedding: jax.Array, prompt: Prompt
    ) -> tuple[jax.Array, jax.Array]:
        """One prompt set, every mask token.

        Args:
          embedding: [h, w, C] image embedding.
          prompt: coordinates in the encoder input's frame (`Prompt`).

        Returns:
          low-res logits [M, 4h, 4w] and predicted IoU [M] for the M mask tokens.
        """
        sparse, sparse_mask, dense = self.prompt_encoder(prompt)
        inputs = (embedding, self.prompt_encoder.dense_pe(), sparse, dense)
        if self.precision == "bfloat16":  # The params too: `decoder_params`.
            inputs = tuple(x.astype(jnp.bfloat16) for x in inputs)
        masks, iou = self.mask_decoder(*inputs, sparse_mask)
        return masks.astype(jnp.float32), iou.astype(jnp.float32)

    def __call__(self, images: jax.Array, prompt: Prompt):
        """Both paths, for `init`: embeddings of images[0] decoded with one prompt set."""
        return self.decode_input_frame(self.encode(images)[0], prompt)


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
