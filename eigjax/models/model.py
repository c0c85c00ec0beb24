"""The user-facing model: `embed` an image once, `predict` masks for prompts in image pixels.

Two frames, two names: `decode_original` takes a `Prompt` in original-image pixels and
maps it to the encoder input's frame for `Sam.decode_input_frame`; `upsample_to_original`
brings low-res logits back to the original image size.
"""

import dataclasses
import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from eigjax.models import configs, families, transforms
from eigjax.models.prompt import Prompt


@flax.struct.dataclass
class Embedding:
    """An image's embedding and the geometry needed to map prompts and masks."""

    features: jax.Array  # [h, w, C]
    original_size: tuple[int, int] = flax.struct.field(pytree_node=False)  # (H, W)
    high_res: tuple[jax.Array, jax.Array] | None = None  # SAM 2: [4h, 4w, C/8], [2h, 2w, C/4]

    def arrays(self) -> dict[str, np.ndarray]:
        """{"features", and SAM 2's "s0", "s1"}: the embedding as named host arrays (what a
        cache stores; `from_arrays` reads them back)."""
        out = {"features": np.asarray(self.features)}
        if self.high_res is not None:
            out.update(s0=np.asarray(self.high_res[0]), s1=np.asarray(self.high_res[1]))
        return out

    @classmethod
    def from_arrays(cls, arrays: dict, original_size: tuple[int, int]) -> "Embedding":
        """The embedding of `arrays` (`Embedding.arrays`) of an image of `original_size`,
        on the device."""
        features, high_res = jax.tree_util.tree_map(jnp.asarray, embedding_parts(arrays))
        return cls(features, tuple(original_size), high_res)


def embedding_parts(arrays: dict) -> tuple:
    """(features, high_res or None) of named embedding arrays (`Embedding.arrays`, or a
    stack of them: any leading axes), as given."""
    return arrays["features"], ((arrays["s0"], arrays["s1"]) if "s0" in arrays else None)


@flax.struct.dataclass
class Prediction:
    low_res_logits: jax.Array  # [M, 256, 256], all mask tokens (token 0 = single-mask output)
    logits: jax.Array  # [M, H, W] at the original resolution
    iou: jax.Array  # [M] predicted IoU per token
    head_weights: jax.Array | None = None  # [M]: the heads' prior (None: uniform, SAM's)
    object_score: jax.Array | None = None  # []: SAM 3's object-score logit (None: no head)


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A named SAM-family model with its params.

    `embed` and `predict` are jitted (one compile per image size and prompt count);
    `predict` also runs under `jax.vmap` over (points, labels) with the embedding unbatched.
    """

    config: configs.ModelConfig
    params: dict

    @property
    def network(self):
        """The Flax module (`families.network`): `Sam`, or the calibrated control."""
        return families.network(self.config)

    def at_precision(self, precision: str) -> tuple:
        """The network and params that compute the decoder at `precision`.

        Args:
          precision: "highest" (float32 matmuls, the parity bound), "high", "default" or
            "bfloat16" (then the decoder's params are bfloat16 too).

        Returns:
          (network, params).
        """
        network = families.network(self.config, precision)
        return network, families.family(self.config).decoder_params(self.params, precision)

    def encoder_input(self, image: np.ndarray, gt: np.ndarray | None = None) -> np.ndarray:
        """What the encoder takes for `image`, by the config's preprocessing rule.

        Args:
          image: uint8 [H, W, 3] or [H, W].
          gt: bool [H, W], which only the calibrated control reads (and needs).

        Returns:
          float32 [S, S, C], S the model's input size.
        """
        return transforms.encoder_input(image, gt, self.config)

    def embed(self, image: np.ndarray, gt: np.ndarray | None = None) -> Embedding:
        """The image's embedding: the encoder's output, computed once per image.

        Args:
          image: uint8 [H, W, 3] or [H, W] (other arrays by `eigjax.pixels.to_uint8_rgb`).
          gt: bool [H, W], the ground truth: only the calibrated control reads it (and
            needs it).

        Returns:
          An `Embedding`: features [h, w, C] (SAM 2 and 3: and their high-resolution
          levels), and the image's original size.
        """
        x = self.encoder_input(image, gt)
        features, high_res = encode(self.network, self.params, jnp.asarray(x)[None])
        first = jax.tree_util.tree_map(lambda a: a[0], high_res)
        return Embedding(features[0], tuple(np.shape(image)[:2]), first)

    def predict(
        self,
        embedding: Embedding,
        points: jax.Array,
        labels: jax.Array,
        box: jax.Array | None = None,
        mask_input: jax.Array | None = None,
    ) -> Prediction:
        """Masks of every token for one prompt set.

        Args:
          embedding: from `embed`.
          points: float [N, 2] (x, y) in original-image pixels (N may be 0).
          labels: int [N], 1 positive / 0 negative / -1 not-a-point.
          box: float [4] (x0, y0, x1, y1) in original-image pixels, or None.
          mask_input: [r, r] low-res logits (e.g. a previous `low_res_logits[k]`; r is the
            model's low-res side, 256 for SAM), or None.

        Returns:
          A `Prediction` of every mask token M (token 0 the single-mask output):
          `low_res_logits` [M, r, r], `logits` [M, H, W] at the original size, `iou` [M]
          (predicted), `head_weights` (None but for the calibrated control) and
          `object_score` (SAM 3's logit, else None).

        Points and boxes may lie outside the image: SAM's prompt encoder takes any
        coordinate (a box one pixel past the border is what SAM-Med2D's half-open boxes
        give), so they are encoded as given, not refused.

        Raises:
          ValueError: naming the argument, when a prompt is malformed (`Prompt.create`),
            or when `mask_input` is not [r, r] with r this model's low-res side.
        """
        r = self.config.low_res_size
        if mask_input is not None and np.shape(mask_input) != (r, r):
            raise ValueError(
                f"mask_input: expected low-res logits of shape ({r}, {r}) for "
                f"{self.config.name}, got {np.shape(mask_input)}"
            )
        return self.predict_prompt(embedding, Prompt.create(points, labels, box, mask_input))

    def predict_prompt(self, embedding: Embedding, prompt: Prompt) -> Prediction:
        """`predict` for a `Prompt`, e.g. a fixed-size click array grown in a compiled loop;
        `jax.vmap(model.predict_prompt, in_axes=(None, 0))` runs many against one embedding.

        Args:
          embedding: from `embed`.
          prompt: a `Prompt` in original-image pixels.

        Returns:
          A `Prediction`, as `predict`'s.
        """
        return _predict(self.network, self.params, embedding, prompt)


@functools.partial(jax.jit, static_argnums=0)
def encode(network, params: dict, images: jax.Array) -> tuple[jax.Array, tuple | None]:
    """[B, S, S, C] encoder inputs → [B, h, w, C] embeddings and SAM 2's high-resolution
    features (None for the other families), jitted."""
    return network.apply({"params": params}, images, method=type(network).encode)


def decode_original(
    network, params: dict, embedding: Embedding, prompt: Prompt
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """Low-res logits [M, r, r], IoU [M] and the heads' weights [M] (None: uniform) for a
    prompt in original-image pixels (traceable)."""
    return decode_scored(network, params, embedding, prompt)[0]


def decode_scored(
    network, params: dict, embedding: Embedding, prompt: Prompt
) -> tuple[tuple, jax.Array | None]:
    """`decode_original`'s outputs and the object-score logit [] the decoder sows (SAM 3's
    tracker head; None for a model without one)."""
    scale = jnp.asarray(input_frame_scale(embedding.original_size, network.config))
    outputs, state = network.apply(
        {"params": params},
        embedding.features,
        prompt.scaled(scale),
        embedding.high_res,
        method=type(network).decode_heads,
        mutable=["intermediates"],
    )
    sown = state.get("intermediates", {}).get("mask_decoder", {}).get("object_score")
    return outputs, None if sown is None else sown[0]


def upsample_to_original(
    low_res: jax.Array, original_size: tuple[int, int], config: configs.ModelConfig
) -> jax.Array:
    """Low-res logits [..., r, r] → [..., H, W], the reference's post-processing."""
    return transforms.postprocess(low_res, original_size, config)


@functools.partial(jax.jit, static_argnums=0)
def _predict(network, params: dict, embedding: Embedding, prompt: Prompt) -> Prediction:
    (low_res, iou, weights), score = decode_scored(network, params, embedding, prompt)
    logits = upsample_to_original(low_res, embedding.original_size, network.config)
    returned = transforms.clamp_low_res(low_res, network.config)
    return Prediction(returned, logits, iou, weights, score)


def input_frame_scale(original_size: tuple[int, int], config: configs.ModelConfig) -> np.ndarray:
    """float32 [2]: (x, y) factors from original pixels to the encoder input's frame."""
    return transforms.transform_coords(np.ones(2), original_size, config)
