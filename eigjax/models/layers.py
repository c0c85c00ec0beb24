"""Small layers shared by the encoders and the decoder, matching SAM's `common.py`."""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

# Full float32 matmuls: the models must match the PyTorch reference to float32 rounding,
# and TF32/bf16 passes on accelerators would not.
PRECISION = jax.lax.Precision.HIGHEST


def dense(features: int, name: str, use_bias: bool = True) -> nn.Dense:
    return nn.Dense(features, use_bias=use_bias, precision=PRECISION, name=name)


def layer_norm(eps: float, name: str) -> nn.LayerNorm:
    """LayerNorm over the last (channel) axis; also SAM's LayerNorm2d in NHWC layout."""
    # Two-pass variance, as torch computes it; the fast E[x^2]-E[x]^2 form loses digits.
    return nn.LayerNorm(epsilon=eps, use_fast_variance=False, name=name)


def gelu(x: jax.Array) -> jax.Array:
    """Exact (erf) GELU, torch's nn.GELU default."""
    return jax.nn.gelu(x, approximate=False)


class MLPBlock(nn.Module):
    """lin1 → activation → lin2 (`common.MLPBlock`)."""

    mlp_dim: int
    activation: Callable[[jax.Array], jax.Array] = gelu

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.activation(dense(self.mlp_dim, "lin1")(x))
        return dense(x.shape[-1], "lin2")(y)


class MLP(nn.Module):
    """`num_layers` Dense layers with ReLU between them (`mask_decoder.MLP`)."""

    hidden_dim: int
    output_dim: int
    num_layers: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            x = dense(self.output_dim if last else self.hidden_dim, f"layers_{i}")(x)
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
    """ConvTranspose2d with kernel 2 and stride 2 (non-overlapping): [H, W, C] → [2H, 2W, F].

    The decoder's upscaling; an einsum here because the general `ConvTranspose` would
    multiply by the zeros of the dilated input, 4x the work, for every Oracle candidate.

    `kernel` is [2, 2, C, F]: torch's (in, out, kH, kW) weight transposed to (kH, kW, in, out).
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (2, 2, x.shape[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        h, w = x.shape[-3], x.shape[-2]
        y = jnp.einsum("...ijc,abcf->...iajbf", x, kernel, precision=PRECISION)
        y = y.reshape(*x.shape[:-3], 2 * h, 2 * w, self.features)
        return y + bias.reshape((1,) * (y.ndim - 1) + (-1,))


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
