"""The user-facing model: `embed` an image once, `predict` masks for prompts in image pixels."""

import dataclasses
import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from eigjax.models import configs, transforms
from eigjax.models.layers import PRECISION
from eigjax.models.sam import Sam


@flax.struct.dataclass
class Embedding:
    """An image's embedding and the geometry needed to map prompts and masks."""

    features: jax.Array  # [h, w, C]
    original_size: tuple[int, int] = flax.struct.field(pytree_node=False)  # (H, W)


@flax.struct.dataclass
class Prediction:
    low_res_logits: jax.Array  # [M, 256, 256], all mask tokens (token 0 = single-mask output)
    logits: jax.Array  # [M, H, W] at the original resolution
    iou: jax.Array  # [M] predicted IoU per token


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A named SAM-family model with its params.

    `embed` and `predict` are jitted (one compile per image size and prompt count);
    `predict` also runs under `jax.vmap` over (points, labels) with the embedding unbatched.
    """

    config: configs.ModelConfig
    params: dict

    @property
    def network(self) -> Sam:
        return Sam(self.config)

    def embed(self, image: np.ndarray) -> Embedding:
        """uint8 [H, W, 3] (or [H, W] grayscale) → `Embedding`."""
        x = transforms.preprocess(image, self.config)  # Checks and converts to RGB.
        features = encode(self.network, self.params, jnp.asarray(x)[None])[0]
        return Embedding(features=features, original_size=tuple(np.shape(image)[:2]))

    def predict(
        self,
        embedding: Embedding,
        points: jax.Array,
        labels: jax.Array,
        box: jax.Array | None = None,
        mask_input: jax.Array | None = None,
        point_mask: jax.Array | None = None,
        mask_valid: jax.Array | None = None,
    ) -> Prediction:
        """Masks of every token for one prompt set.

        Args:
          embedding: from `embed`.
          points: float [N, 2] (x, y) in original-image pixels (N may be 0).
          labels: int [N], 1 positive / 0 negative / -1 not-a-point.
          box: float [4] (x0, y0, x1, y1) in original-image pixels, or None.
          mask_input: [256, 256] low-res logits (e.g. a previous `low_res_logits[k]`), or None.
          point_mask: bool [N]; False drops that point exactly, so that a fixed-size
            array of clicks can stand for a growing sequence inside one compiled loop.
          mask_valid: bool scalar; False ignores `mask_input`, for the same reason.
        """
        return _predict(
            self.network,
            self.params,
            embedding,
            points,
            labels,
            box,
            mask_input,
            point_mask,
            mask_valid,
        )


@functools.partial(jax.jit, static_argnums=0)
def encode(network: Sam, params: dict, images: jax.Array) -> jax.Array:
    """[B, S, S, 3] preprocessed images → [B, h, w, C] embeddings (jitted)."""
    return network.apply({"params": params}, images, method=Sam.encode)


def decode(
    network: Sam,
    params: dict,
    embedding: Embedding,
    points,
    labels,
    box=None,
    mask_input=None,
    point_mask=None,
    mask_valid=None,
) -> tuple[jax.Array, jax.Array]:
    """Low-res logits [M, r, r] and IoU [M]; prompts in original-image pixels (traceable)."""
    scale = _input_frame_scale(embedding.original_size, network.config)
    points = jnp.asarray(points, jnp.float32).reshape(-1, 2) * scale
    labels = jnp.asarray(labels, jnp.int32).reshape(-1)
    if box is not None:
        box = (jnp.asarray(box, jnp.float32).reshape(2, 2) * scale).reshape(4)
    return network.apply(
        {"params": params},
        embedding.features,
        points,
        labels,
        box,
        mask_input,
        point_mask,
        mask_valid,
        method=Sam.decode,
    )


def to_image(low_res: jax.Array, original_size: tuple[int, int], config) -> jax.Array:
    """Low-res logits [..., r, r] → [..., H, W], the reference's post-processing."""
    rows, cols = transforms.postprocess_matrices(original_size, config)
    return jnp.einsum("hi,...ij,wj->...hw", rows, low_res, cols, precision=PRECISION)


@functools.partial(jax.jit, static_argnums=0)
def _predict(network, params, embedding, points, labels, box, mask_input, point_mask, mask_valid):
    low_res, iou = decode(
        network, params, embedding, points, labels, box, mask_input, point_mask, mask_valid
    )
    logits = to_image(low_res, embedding.original_size, network.config)
    return Prediction(low_res_logits=low_res, logits=logits, iou=iou)


def _input_frame_scale(original_size: tuple[int, int], config: configs.ModelConfig) -> np.ndarray:
    """float32 [2]: (x, y) factors from original pixels to the encoder input's frame."""
    return transforms.transform_coords(np.ones(2), original_size, config)
