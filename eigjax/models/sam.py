"""The whole SAM-family network as one Flax module: image encoder, prompt encoder, decoder."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from eigjax.models import configs
from eigjax.models.image_encoder import ImageEncoderViT
from eigjax.models.mask_decoder import MaskDecoder
from eigjax.models.prompt_encoder import PromptEncoder
from eigjax.models.tiny_vit import TinyViT


class Sam(nn.Module):
    """`encode` maps images to embeddings; `decode` maps one prompt set to mask logits."""

    config: configs.ModelConfig

    def setup(self):
        cfg = self.config
        if isinstance(cfg.encoder, configs.TinyViTConfig):
            self.image_encoder = TinyViT(cfg.encoder)
        else:
            self.image_encoder = ImageEncoderViT(cfg.encoder, cfg.image_size)
        self.prompt_encoder = PromptEncoder(cfg.prompt_encoder, cfg.embedding_size, cfg.image_size)
        self.mask_decoder = MaskDecoder(cfg.mask_decoder)

    def encode(self, images: jax.Array) -> jax.Array:
        """[B, S, S, 3] preprocessed → [B, h, w, C] embeddings."""
        return self.image_encoder(images)

    def decode(
        self,
        embedding: jax.Array,
        points: jax.Array,
        labels: jax.Array,
        box: jax.Array | None = None,
        mask_input: jax.Array | None = None,
        point_mask: jax.Array | None = None,
        mask_valid: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """One prompt set, every mask token.

        Args:
          embedding: [h, w, C] image embedding.
          points: [N, 2] (x, y) in the encoder input's frame; labels: int [N].
          box: [4] (x0, y0, x1, y1) in the input frame, or None.
          mask_input: [4h, 4w] low-res logits, or None.
          point_mask: bool [N]; False drops a point exactly as if it were not given.
          mask_valid: bool scalar; False ignores `mask_input` (run-time choice).

        Returns:
          low-res logits [M, 4h, 4w] and predicted IoU [M] for the M mask tokens.
        """
        sparse, dense = self.prompt_encoder(points, labels, box, mask_input, mask_valid)
        sparse_mask = None
        if point_mask is not None:
            extra = sparse.shape[0] - point_mask.shape[0]  # The pad point or box corners.
            sparse_mask = jnp.concatenate([point_mask, jnp.ones(extra, bool)])
        return self.mask_decoder(
            embedding, self.prompt_encoder.dense_pe(), sparse, dense, sparse_mask
        )

    def __call__(self, images, points, labels, box=None, mask_input=None):
        """Both paths, for `init`: embeddings of images[0] decoded with one prompt set."""
        emb = self.encode(images)
        return self.decode(emb[0], points, labels, box, mask_input)


def init_params(config: configs.ModelConfig, key: jax.Array) -> dict:
    """Randomly initialised params (only useful for shapes and tests)."""
    s = config.image_size
    images = jnp.zeros((1, s, s, 3))
    mask = jnp.zeros((config.low_res_size,) * 2)
    variables = Sam(config).init(
        key, images, jnp.zeros((1, 2)), jnp.ones((1,), jnp.int32), jnp.zeros(4), mask
    )
    return variables["params"]


def abstract_params(config: configs.ModelConfig) -> dict:
    """The params tree of `config` as `jax.ShapeDtypeStruct`s, without computing anything."""
    return jax.eval_shape(lambda: init_params(config, jax.random.key(0)))
