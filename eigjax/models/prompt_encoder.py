"""SAM's prompt encoder (`segment_anything/modeling/prompt_encoder.py`) in Flax, unbatched.

One prompt set at a time; batch with `jax.vmap` at the call site.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eigjax.models import configs
from eigjax.models.layers import PRECISION, gelu, layer_norm
from eigjax.models.prompt import Prompt

NUM_POINT_EMBEDDINGS = 4  # Negative point, positive point, box top-left, box bottom-right.


def fourier_features(coords: jax.Array, gaussian_matrix: jax.Array) -> jax.Array:
    """Random-Fourier encoding of coordinates in [0, 1]: [..., 2] → [..., 2F]."""
    coords = 2 * coords - 1
    coords = jnp.matmul(coords, gaussian_matrix, precision=PRECISION)
    coords = 2 * np.pi * coords
    return jnp.concatenate([jnp.sin(coords), jnp.cos(coords)], axis=-1)


class PromptEncoder(nn.Module):
    """Encodes a `Prompt` (points, box, mask input) into sparse and dense embeddings."""

    config: configs.PromptEncoderConfig
    embedding_size: int  # Side of the image embedding grid.
    input_image_size: int  # Side of the encoder's square input.

    def setup(self):
        dim = self.config.embed_dim
        normal = nn.initializers.normal(1.0)
        # Not trained: a fixed N(0, 1) draw, a buffer in the reference.
        self.positional_encoding_gaussian_matrix = self.param(
            "positional_encoding_gaussian_matrix", normal, (2, dim // 2)
        )
        self.point_embeddings = self.param("point_embeddings", normal, (NUM_POINT_EMBEDDINGS, dim))
        self.not_a_point_embed = self.param("not_a_point_embed", normal, (dim,))
        self.no_mask_embed = self.param("no_mask_embed", normal, (dim,))
        c, eps = self.config.mask_in_chans, self.config.norm_eps
        self.mask_conv1 = nn.Conv(c // 4, (2, 2), strides=(2, 2), precision=PRECISION)
        self.mask_ln1 = layer_norm(eps, None)
        self.mask_conv2 = nn.Conv(c, (2, 2), strides=(2, 2), precision=PRECISION)
        self.mask_ln2 = layer_norm(eps, None)
        self.mask_conv3 = nn.Conv(dim, (1, 1), precision=PRECISION)

    def _encode_coords(self, coords: jax.Array) -> jax.Array:
        """[..., 2] (x, y) in input-image pixels → [..., C]."""
        return fourier_features(
            coords / self.input_image_size, self.positional_encoding_gaussian_matrix
        )

    def dense_pe(self) -> jax.Array:
        """[h, w, C] positional encoding of the image embedding grid's cell centres."""
        n = self.embedding_size
        centres = (jnp.arange(n, dtype=jnp.float32) + 0.5) / n
        y, x = jnp.meshgrid(centres, centres, indexing="ij")
        return fourier_features(
            jnp.stack([x, y], axis=-1), self.positional_encoding_gaussian_matrix
        )

    def embed_points(self, points: jax.Array, labels: jax.Array, pad: bool) -> jax.Array:
        """[N, 2] points (input frame), [N] labels (1 pos, 0 neg, -1 not a point) → [N(+1), C]."""
        points = points + 0.5  # Centre of the pixel.
        if pad:
            points = jnp.concatenate([points, jnp.zeros((1, 2), points.dtype)], axis=0)
            labels = jnp.concatenate([labels, -jnp.ones((1,), labels.dtype)], axis=0)
        emb = self._encode_coords(points)
        labels = labels[:, None]
        emb = jnp.where(labels == -1, self.not_a_point_embed[None], emb)
        emb = emb + jnp.where(labels == 0, self.point_embeddings[:1], 0.0)
        return emb + jnp.where(labels == 1, self.point_embeddings[1:2], 0.0)

    def embed_box(self, box: jax.Array) -> jax.Array:
        """[4] box (x0, y0, x1, y1), input frame → [2, C] corner embeddings."""
        corners = self._encode_coords(box.reshape(2, 2) + 0.5)
        return corners + self.point_embeddings[2:4]

    def embed_mask(self, mask: jax.Array) -> jax.Array:
        """[4h, 4w] low-res mask logits → [h, w, C]."""
        x = mask[:, :, None]
        x = gelu(self.mask_ln1(self.mask_conv1(x)))
        x = gelu(self.mask_ln2(self.mask_conv2(x)))
        return self.mask_conv3(x)

    def __call__(self, prompt: Prompt) -> tuple[jax.Array, jax.Array, jax.Array]:
        """One prompt set in the input frame → sparse [T, C] (points, then a pad point or the
        box corners; SAM 2: the pad point always, the box as two points), their mask bool
        [T] (False drops a token exactly) and dense [h, w, C]. Token order does not matter
        to the decoder (its attention is equivariant over tokens).

        `prompt.mask_valid` selects between `prompt.mask` and no mask at run time, so that
        one compiled loop serves steps with and without a previous mask.
        """
        has_box = prompt.box is not None
        pad = not has_box or self.config.pad_always
        sparse = self.embed_points(prompt.points, prompt.labels, pad=pad)
        if has_box:
            sparse = jnp.concatenate([sparse, self.embed_box(prompt.box)], axis=0)
        extra = sparse.shape[0] - prompt.valid.shape[0]  # The pad point and/or the box corners.
        sparse_mask = jnp.concatenate([prompt.valid, jnp.ones(extra, bool)])
        n = self.embedding_size
        no_mask = jnp.broadcast_to(self.no_mask_embed, (n, n, self.config.embed_dim))
        if prompt.mask is None:
            return sparse, sparse_mask, no_mask
        dense = self.embed_mask(prompt.mask)
        if prompt.mask_valid is not None:
            dense = jnp.where(prompt.mask_valid, dense, no_mask)
        return sparse, sparse_mask, dense
