"""Expected information gain of observing a pixel's label, from a segmenter's mask heads.

With the K heads θ_k as a uniform prior q(θ) (Chung & Moyer, Sec. 2.2), the EIG of
observing pixel d is the mutual information between its label y ~ Bernoulli(θ(d)) and the
head index:

  EIG(d) = H(mean_k θ_k(d)) − mean_k H(θ_k(d)),   0 ≤ EIG ≤ min(log 2, log K)   [nats]

A model that states its belief over its heads (the calibrated control's posterior) gives
`weights` w [K]: q(θ) = Σ_k w_k δ(θ_k), and the means become w-weighted ones. Without
weights every function computes exactly the uniform case (the paper's).

`eig_exact` computes it; `eig_nmc` is the paper's nested Monte Carlo estimator (Eq. 6–8),
which converges to it as N, M → ∞ with √N ∝ M (Rainforth et al., 2018).

Every function takes `probs: [K, ...]` (heads first, any pixel shape) and is pure,
`jit`- and `vmap`-clean. NaN, infinite or out-of-[0, 1] probabilities, or no heads at all,
raise a ValueError naming the count, eagerly or from inside a compiled computation, rather
than spreading silently; so do sample sizes below 1.

References:
  Chung & Moyer, "Does SAM dream of EIG?", Eq. 6–8 and Sec. 2.2.
  Rainforth et al., "On nesting Monte Carlo estimators", ICML 2018.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# Probabilities are kept in [EPS, 1 − EPS] inside log-likelihoods: float32 sigmoids
# saturate to exactly 0 or 1, where log p(y | θ) would be −∞. Each log term is then
# bounded by −log EPS ≈ 15.9 nats.
EPS = float(np.finfo(np.float32).eps)


def _raise_invalid(nan, out_of_range) -> None:
    if nan:
        raise ValueError(f"EIG input holds {int(nan)} NaN or infinite probabilities")
    if out_of_range:
        raise ValueError(f"EIG input holds {int(out_of_range)} probabilities outside [0, 1]")


def check_probs(probs: jax.Array) -> None:
    """Checks EIG's input: now if concrete, at run time if traced. (EIG is at most log 2
    nats; a value outside [0, 1] would make it anything.)

    Args:
      probs: float [K, ...], K head probabilities per pixel.

    Raises:
      ValueError: no head (K = 0), NaN or infinities, or values outside [0, 1].
    """
    if np.ndim(probs) < 1 or np.shape(probs)[0] == 0:
        raise ValueError(f"EIG input needs at least one head: probs of shape {np.shape(probs)}")
    nan = jnp.sum(~jnp.isfinite(probs))
    out_of_range = jnp.sum((probs < 0) | (probs > 1))
    if isinstance(nan, jax.core.Tracer):
        jax.debug.callback(_raise_invalid, nan, out_of_range)
    else:
        _raise_invalid(nan, out_of_range)


def binary_entropy(p: jax.Array) -> jax.Array:
    """The binary entropy.

    Args:
      p: float [...], probabilities.

    Returns:
      float [...]: H(p) in nats, exactly 0 at p ∈ {0, 1}.
    """
    return -(jax.scipy.special.xlogy(p, p) + jax.scipy.special.xlog1py(1 - p, -p))


def head_mean(values: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """The mean over heads.

    Args:
      values: float [K, ...].
      weights: float [K] (normalised here: any non-negative weights with a positive sum),
        or None for the uniform mean.

    Returns:
      float [...].
    """
    if weights is None:
        return jnp.mean(values, axis=0)
    w = jnp.asarray(weights, jnp.float32)
    w = (w / jnp.sum(w)).reshape((-1,) + (1,) * (values.ndim - 1))
    return jnp.sum(w * values, axis=0)


def eig_exact(probs: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """The exact EIG of observing each pixel: the mutual information between its label and
    the head, H(mean θ) − mean H(θ) (BALD's; the limit of the paper's Eq. 8).

    Args:
      probs: float [K, ...], the K heads' probabilities θ_k per pixel, in [0, 1].
      weights: float [K], the heads' weights (a posterior), or None: uniform, the paper's q.

    Returns:
      float [...]: EIG in nats, in [0, min(log 2, log K)].

    Raises:
      ValueError: `probs` has no head, NaN or infinities, or values outside [0, 1].
    """
    check_probs(probs)
    probs = jnp.asarray(probs, jnp.float32)
    mean_entropy = head_mean(binary_entropy(probs), weights)
    # A weighted float32 mean of ones can round to 1 + 1e-7, where H is NaN.
    predictive = jnp.clip(head_mean(probs, weights), 0.0, 1.0)
    eig = binary_entropy(predictive) - mean_entropy
    return jnp.maximum(eig, 0.0)  # Jensen makes it ≥ 0; rounding can dip below by ~1e-8.


class NMCSamples(NamedTuple):
    """The draws of Sec. 2.2 for all pixels at once.

    outer_heads: int [N]: θ_{n,0}'s head, shared by all pixels (designs are separable).
    uniform_keys: [N] PRNG keys; key n draws u ~ U(0, 1) per pixel, y_n = 1 if u < θ_{n,0}(d).
      (Keys, not the [N, ...] uniforms: at 1024² pixels and N = 1024 those are 4 GiB.)
    inner_counts: float [N, K]: how often each head was drawn as θ_{n,1..M}.
    """

    outer_heads: jax.Array
    uniform_keys: jax.Array
    inner_counts: jax.Array

    def uniforms(self, n: int, pixel_shape: tuple[int, ...]) -> jax.Array:
        """The per-pixel uniforms of outer sample n.

        Args:
          n: the outer sample's index.
          pixel_shape: the map's shape, e.g. (H, W).

        Returns:
          float [*pixel_shape] in [0, 1).
        """
        return jax.random.uniform(self.uniform_keys[n], pixel_shape)


def nmc_samples(
    key: jax.Array, num_heads: int, n_outer: int, n_inner: int, weights: jax.Array | None = None
) -> NMCSamples:
    """Draws θ_{n,0} ~ q, p ~ U(0, 1) per pixel, and θ_{n,m} ~ q, m = 1..M (Sec. 2.2).

    Args:
      key: a PRNG key.
      num_heads: K.
      n_outer: N, the outer samples.
      n_inner: M, the inner samples per outer one.
      weights: float [K]: q as their categorical, or None: uniform over the heads.

    Returns:
      The draws, for every pixel at once (`NMCSamples`).
    """
    k_outer, k_uniform, k_inner = jax.random.split(key, 3)
    if weights is None:
        outer = jax.random.randint(k_outer, (n_outer,), 0, num_heads)
        inner = jax.random.randint(k_inner, (n_outer, n_inner), 0, num_heads)
    else:
        logits = jnp.log(jnp.asarray(weights, jnp.float32))
        outer = jax.random.categorical(k_outer, logits, shape=(n_outer,))
        inner = jax.random.categorical(k_inner, logits, shape=(n_outer, n_inner))
    uniform_keys = jax.random.split(k_uniform, n_outer)
    # Σ_m p(y | θ_{n,m}) = Σ_k count_{n,k} p(y | θ_k): the same sum over the same draws,
    # in O(K) per pixel instead of O(M).
    counts = jnp.sum(jax.nn.one_hot(inner, num_heads), axis=1)
    return NMCSamples(outer, uniform_keys, counts)


def eig_nmc_terms(probs: jax.Array, samples: NMCSamples, batch_size: int = 8) -> jax.Array:
    """The outer terms of Eq. 8: term n is log p(y_n | θ_{n,0}) − log (1/M) Σ_m
    p(y_n | θ_{n,m}); their mean is the estimate, their spread its standard error.

    Args:
      probs: float [K, ...], the heads' probabilities.
      samples: the draws (`nmc_samples`).
      batch_size: outer samples at a time; memory is O(batch_size · K · pixels).

    Returns:
      float [N, ...].
    """
    check_probs(probs)
    p = jnp.clip(jnp.asarray(probs, jnp.float32), EPS, 1 - EPS)
    log_p, log_q = jnp.log(p), jnp.log1p(-p)  # log p(y=1 | θ_k), log p(y=0 | θ_k)
    n_inner = jnp.sum(samples.inner_counts[0])
    log_weights = jnp.log(samples.inner_counts / n_inner)  # −∞ for heads never drawn

    def term(args):
        head, u_key, log_w = args
        y = (
            jax.random.uniform(u_key, probs.shape[1:]) < probs[head]
        )  # y_n ~ Bernoulli(θ_{n,0}(d)), from the unclipped θ.
        loglik = jnp.where(y, log_p, log_q)  # [K, ...]: log p(y_n | θ_k)
        outer = loglik[head]
        w = log_w.reshape((-1,) + (1,) * (loglik.ndim - 1))
        inner = jax.scipy.special.logsumexp(loglik + w, axis=0)
        return outer - inner

    xs = (samples.outer_heads, samples.uniform_keys, log_weights)
    return jax.lax.map(term, xs, batch_size=batch_size)


def eig_nmc(
    key: jax.Array,
    probs: jax.Array,
    n_outer: int,
    n_inner: int,
    batch_size: int = 8,
    weights: jax.Array | None = None,
) -> jax.Array:
    """The paper's nested Monte Carlo estimate of EIG (Eq. 8, sampled as its Sec. 2.2
    says), jitted.

    Args:
      key: a PRNG key.
      probs: float [K, ...], the heads' probabilities, in [0, 1].
      n_outer: N ≥ 1, the outer samples.
      n_inner: M ≥ 1, the inner samples (Rainforth et al.: take √N ∝ M).
      batch_size: outer samples at a time (memory O(batch_size · K · pixels)).
      weights: float [K]: heads drawn by these weights, or None: uniformly (the paper).

    Returns:
      float [...]: the estimate in nats (biased upward at small M).

    Raises:
      ValueError: N or M below 1, or invalid `probs` (`check_probs`).
    """
    if n_outer < 1 or n_inner < 1:
        raise ValueError(
            f"eig_nmc: n_outer and n_inner must be at least 1, got {n_outer}, {n_inner}"
        )
    check_probs(probs)  # Here, so that concrete input fails as a ValueError.
    return _eig_nmc(key, probs, weights, n_outer, n_inner, batch_size)


@functools.partial(jax.jit, static_argnames=("n_outer", "n_inner", "batch_size"))
def _eig_nmc(key, probs, weights, n_outer: int, n_inner: int, batch_size: int) -> jax.Array:
    samples = nmc_samples(key, probs.shape[0], n_outer, n_inner, weights)
    return jnp.mean(eig_nmc_terms(probs, samples, batch_size), axis=0)
