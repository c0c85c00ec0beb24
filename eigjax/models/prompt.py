"""A prompt set as one pytree: clicks, an optional box and an optional mask input.

The click arrays have a fixed capacity N with a validity mask, so that a growing click
sequence keeps one shape (and one compile) inside a loop; a False slot is dropped exactly,
as if it were not given. `Prompt` is carried unchanged through the model's layers: in
original-image pixels at the API (`Model.predict_prompt`), in the encoder input's frame
inside the network (`Sam.decode_input_frame`).

`Prompt.create` validates every value at the API boundary (finite coordinates, labels in
{-1, 0, 1}, an ordered box, matching lengths) and raises a ValueError naming the argument.
"""

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

LABELS = (-1, 0, 1)  # Not a point, negative, positive (SAM's convention).


@flax.struct.dataclass
class Prompt:
    """points float32 [N, 2] (x, y); labels int32 [N]; valid bool [N]; box float32 [4]
    (x0, y0, x1, y1) or None; mask float32 [r, r] low-res logits or None; mask_valid bool []
    (False ignores `mask`, a run-time choice) or None."""

    points: jax.Array
    labels: jax.Array
    valid: jax.Array
    box: jax.Array | None = None
    mask: jax.Array | None = None
    mask_valid: jax.Array | None = None

    @classmethod
    def create(cls, points, labels, box=None, mask=None, valid=None) -> "Prompt":
        """A validated prompt from array-likes; values are checked when they are concrete.

        Raises:
          ValueError: naming the argument: wrong shapes or lengths, non-finite coordinates,
            labels outside {-1, 0, 1}, a box with x0 > x1 or y0 > y1, a non-square mask.
        """
        points = jnp.asarray(points, jnp.float32)
        if points.size == 0:
            points = points.reshape(0, 2)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"points: expected [N, 2] (x, y), got shape {points.shape}")
        n = points.shape[0]
        labels_arr = labels if not _concrete(labels) else np.asarray(labels)
        if labels_arr.shape != (n,):
            raise ValueError(
                f"labels: expected [{n}] (one per point), got shape {labels_arr.shape}"
            )
        valid = jnp.ones(n, bool) if valid is None else jnp.asarray(valid)
        if valid.shape != (n,) or valid.dtype != bool:
            raise ValueError(
                f"valid: expected bool [{n}] (one per point), got {valid.dtype} {valid.shape}"
            )
        _check_finite("points", points)
        _check_labels(labels_arr)
        if box is not None:
            box = jnp.asarray(box, jnp.float32)
            if box.shape != (4,):
                raise ValueError(f"box: expected [4] (x0, y0, x1, y1), got shape {box.shape}")
            _check_box(box)
        mask_valid = None
        if mask is not None:
            mask = jnp.asarray(mask, jnp.float32)
            if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
                raise ValueError(
                    f"mask_input: expected square low-res logits [r, r], got {mask.shape}"
                )
            _check_finite("mask_input", mask)
            mask_valid = jnp.asarray(True)
        return cls(points, jnp.asarray(labels_arr, jnp.int32), valid, box, mask, mask_valid)

    @classmethod
    def empty(cls, capacity: int, box=None, mask_size: int | None = None) -> "Prompt":
        """`capacity` unused click slots, the box if any, and an ignored zero mask of side
        `mask_size` if given (so that a later `with_mask` keeps the shapes)."""
        mask = None if mask_size is None else jnp.zeros((mask_size, mask_size), jnp.float32)
        return cls(
            points=jnp.zeros((capacity, 2), jnp.float32),
            labels=jnp.zeros(capacity, jnp.int32),
            valid=jnp.zeros(capacity, bool),
            box=None if box is None else jnp.asarray(box, jnp.float32),
            mask=mask,
            mask_valid=None if mask is None else jnp.asarray(False),
        )

    def add(self, slot, xy, label) -> "Prompt":
        """The prompt with click (x, y, label) in slot `slot` (traceable)."""
        return self.replace(
            points=self.points.at[slot].set(jnp.asarray(xy, jnp.float32)),
            labels=self.labels.at[slot].set(label),
            valid=self.valid.at[slot].set(True),
        )

    def truncated(self, capacity: int) -> "Prompt":
        """The first `capacity` click slots (a static size), the rest dropped."""
        return self.replace(
            points=self.points[:capacity],
            labels=self.labels[:capacity],
            valid=self.valid[:capacity],
        )

    def with_mask(self, mask, use=True) -> "Prompt":
        """The prompt with `mask` [r, r] as mask input where `use` (bool scalar) holds."""
        return self.replace(
            mask=jnp.where(use, mask, self.mask), mask_valid=jnp.logical_or(self.mask_valid, use)
        )

    def scaled(self, scale) -> "Prompt":
        """Coordinates multiplied by `scale` [2] (x, y): a change of frame."""
        scale = jnp.reshape(scale, (1, 2))
        box = None if self.box is None else (self.box.reshape(2, 2) * scale).reshape(4)
        return self.replace(points=self.points * scale, box=box)


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _check_finite(name: str, x) -> None:
    if _concrete(x) and not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError(f"{name}: holds NaN or infinite values")


def _check_labels(labels) -> None:
    if not _concrete(labels):
        if not jnp.issubdtype(labels.dtype, jnp.integer):
            raise ValueError(f"labels: expected integers in {LABELS}, got dtype {labels.dtype}")
        return
    values = np.asarray(labels)
    bad = values[~np.isin(values, LABELS)] if values.size else values
    if bad.size:
        raise ValueError(f"labels: expected values in {LABELS}, got {sorted(set(bad.tolist()))}")


def _check_box(box) -> None:
    _check_finite("box", box)
    if _concrete(box):
        x0, y0, x1, y1 = np.asarray(box).tolist()
        if x0 > x1 or y0 > y1:
            raise ValueError(f"box: expected x0 <= x1 and y0 <= y1, got {[x0, y0, x1, y1]}")
