"""Small layers shared by the encoders and the decoder, matching SAM's `common.py`."""

from collections.abc import Callable
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

# Full float32 matmuls: the models must match the PyTorch reference to float32 rounding,
# and TF32/bf16 passes on accelerators would not.
PRECISION = jax.lax.Precision.HIGHEST

# The decoder's arithmetic, a run-time choice (`Sam.precision`): "highest" (the default,
# the parity above), "default" (the backend's default matmul passes: TF32 on recent
# NVIDIA GPUs, bf16 passes on TPU, no change on CPU), "bfloat16" (decoder weights and
# activations stored in bfloat16; LayerNorm statistics stay float32).
Precision = Literal["highest", "default", "bfloat16"]
MATMUL_PRECISION = {
    "highest": jax.lax.Precision.HIGHEST,
    "default": jax.lax.Precision.DEFAULT,
    "bfloat16": jax.lax.Precision.DEFAULT,
}


def dense(features: int, name: str, use_bias: bool = True, precision=PRECISION) -> nn.Dense:
    return nn.Dense(features, use_bias=use_bias, precision=precision, name=name)


def layer_norm(eps: float, name: str) -> nn.LayerNorm:
    """LayerNorm over the last (channel) axis; also SAM's LayerNorm2d in NHWC layout."""
    # Two-pass variance, as torch computes it; the fast E[x^2]-E[x]^2 form loses digits.
    return nn.LayerNorm(epsilon=eps, use_fast_variance=False, name=name)


def gelu(x: jax.Array) -> jax.Array:
    """Exact GELU as torch's nn.GELU writes it, x · (1 + erf(x / √2)) / 2 (a quarter faster
    on CPU than `jax.nn.gelu(approximate=False)`, which goes through erfc)."""
    return 0.5 * x * (1 + jax.lax.erf(x * 0.7071067811865476))


class Linear(nn.Module):
    """nn.Dense's parameters ("kernel" [in, out], "bias" [out]) declared up front, so that a
    caller may also use the weights directly (`kernel`, `bias`), as rearranged attention does."""

    in_features: int
    features: int
    precision: jax.lax.Precision = PRECISION

    def setup(self):
        shape = (self.in_features, self.features)
        self.kernel = self.param("kernel", nn.initializers.lecun_normal(), shape)
        self.bias = self.param("bias", nn.initializers.zeros, (self.features,))

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.dot(x, self.kernel, precision=self.precision)
        return y + self.bias.reshape((1,) * (y.ndim - 1) + (-1,))


class MLPBlock(nn.Module):
    """lin1 → activation → lin2 (`common.MLPBlock`)."""

    mlp_dim: int
    activation: Callable[[jax.Array], jax.Array] = gelu
    precision: jax.lax.Precision = PRECISION

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.activation(dense(self.mlp_dim, "lin1", precision=self.precision)(x))
        return dense(x.shape[-1], "lin2", precision=self.precision)(y)


class MLP(nn.Module):
    """`num_layers` Dense layers with ReLU between them (`mask_decoder.MLP`)."""

    hidden_dim: int
    output_dim: int
    num_layers: int
    precision: jax.lax.Precision = PRECISION

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            width = self.output_dim if last else self.hidden_dim
            x = dense(width, f"layers_{i}", precision=self.precision)(x)
            if not last:
                x = jax.nn.relu(x)
        return x


class ConvTranspose(nn.Module):
    """torch's ConvTranspose2d (no output padding) as a conv over the stride-dilated input.

    `kernel` is [k, k, C, F]: torch's (in, out, kH, kW) weight, spatially flipped and
    transposed to (kH, kW, in, out).
    """

    features: int
    kernel_size: int
    stride: int
    padding: int
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features)
        )
        pad = k - 1 - self.padding
        y = jax.lax.conv_general_dilated(
            x,
            kernel,
            window_strides=(1, 1),
            padding=((pad, pad), (pad, pad)),
            lhs_dilation=(self.stride, self.stride),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=PRECISION,
        )
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,)).reshape(1, 1, 1, -1)
        return y


class ConvTranspose2x2(nn.Module):
    """ConvTranspose2d with kernel 2 and stride 2 (non-overlapping), in sub-pixel layout:
    [..., C] → [..., 2, 2, F], where input pixel (i, j) becomes output pixels (2i + a,
    2j + b) for the new axes (a, b); `interleave` turns [H, W, ..., F] into image layout.

    The decoder's upscaling; an einsum here because the general `ConvTranspose` would
    multiply by the zeros of the dilated input, 4x the work, for every Oracle candidate.
    Keeping the sub-pixel axes apart until the channels are gone saves transposing
    [2H, 2W, F] feature maps per candidate.

    `kernel` is [2, 2, C, F]: torch's (in, out, kH, kW) weight transposed to (kH, kW, in, out).
    """

    features: int
    precision: jax.lax.Precision = PRECISION

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (2, 2, x.shape[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        y = jnp.einsum("...c,abcf->...abf", x, kernel, precision=self.precision)
        return y + bias.reshape((1,) * (y.ndim - 1) + (-1,))


def interleave(x: jax.Array, levels: int) -> jax.Array:
    """Sub-pixel layout → image layout: [..., H, W, a_1, b_1, ..., a_L, b_L] (each 2) →
    [..., 2^L H, 2^L W], output row i·2^L + Σ a_l 2^(L-l), likewise for columns."""
    lead = x.ndim - 2 - 2 * levels
    rows = [lead] + [lead + 2 + 2 * k for k in range(levels)]
    cols = [lead + 1] + [lead + 3 + 2 * k for k in range(levels)]
    y = x.transpose(*range(lead), *rows, *cols)
    h, w = x.shape[lead] * 2**levels, x.shape[lead + 1] * 2**levels
    return y.reshape(*x.shape[:lead], h, w)


class Neck(nn.Module):
    """1x1 conv → LayerNorm2d → 3x3 conv → LayerNorm2d, no conv biases."""

    out_chans: int
    eps: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Conv(self.out_chans, (1, 1), use_bias=False, precision=PRECISION, name="conv1")(x)
        x = layer_norm(self.eps, "ln1")(x)
        x = nn.Conv(
            self.out_chans, (3, 3), padding=1, use_bias=False, precision=PRECISION, name="conv2"
        )(x)
        return layer_norm(self.eps, "ln2")(x)


def window_partition(x: jax.Array, window: int) -> tuple[jax.Array, tuple[int, int]]:
    """[B, H, W, C] → [B * nW, window, window, C], zero-padding H and W to multiples of window."""
    b, h, w, c = x.shape
    pad_h, pad_w = (-h) % window, (-w) % window
    x = jnp.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    hp, wp = h + pad_h, w + pad_w
    x = x.reshape(b, hp // window, window, wp // window, window, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c), (hp, wp)


def window_unpartition(
    windows: jax.Array, window: int, padded_hw: tuple[int, int], hw: tuple[int, int]
) -> jax.Array:
    """Inverse of `window_partition`: [B * nW, window, window, C] → [B, H, W, C]."""
    hp, wp = padded_hw
    b = windows.shape[0] // (hp * wp // window // window)
    x = windows.reshape(b, hp // window, wp // window, window, window, -1)
    x = x.transpose(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, : hw[0], : hw[1], :]
