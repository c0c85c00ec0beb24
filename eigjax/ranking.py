"""Does EIG know where a click helps? EIG as a ranking of candidate clicks, scored against
the Dice gains the Oracle measured for the same candidates. Pure, traceable, unbatched.

For one Oracle step, over the candidates not yet clicked (`valid`):
  spearman          Spearman's rank correlation between the candidates' EIG and their
                    gains (average ranks for ties, as scipy.stats.spearmanr); NaN when
                    either is constant or fewer than two candidates are left
  regret            the share of the best gain that EIG's own choice misses:
                    (best gain − gain of the EIG argmax) / best gain; 0 when EIG picks the
                    Oracle's click, NaN when no candidate gains
  top_decile_hit    of the ⌈10 %⌉ candidates with the largest gains, the share that are also
                    among the ⌈10 %⌉ with the largest EIG (ties: the first grid point)
  auroc             how well a score ranks positives above negatives (the EIG map against
                    the proposed mask's errors), ties counting a half

None of the anchors measures this: the paper compares only where each policy ends up.
"""

import jax
import jax.numpy as jnp

from eigjax.assess import best_unclicked


def average_ranks(x: jax.Array, valid: jax.Array) -> jax.Array:
    """float [G]: 1-based ranks of x [G] among the `valid` (bool [G]) entries, ties averaged
    (the value of invalid entries is meaningless)."""
    less = jnp.sum((x[None, :] < x[:, None]) & valid[None, :], axis=1)
    equal = jnp.sum((x[None, :] == x[:, None]) & valid[None, :], axis=1)
    return less + (equal + 1) / 2


def spearman(a: jax.Array, b: jax.Array, valid: jax.Array) -> jax.Array:
    """Spearman's correlation of a and b [G] over the `valid` entries."""
    ra, rb = average_ranks(a, valid), average_ranks(b, valid)
    n = jnp.sum(valid)
    w = valid.astype(jnp.float32)
    ca = (ra - jnp.sum(ra * w) / n) * w
    cb = (rb - jnp.sum(rb * w) / n) * w
    denominator = jnp.sqrt(jnp.sum(ca * ca) * jnp.sum(cb * cb))
    return jnp.where(denominator > 0, jnp.sum(ca * cb) / denominator, jnp.nan)


def regret(eig: jax.Array, gain: jax.Array, valid: jax.Array) -> jax.Array:
    """(best gain − gain at EIG's argmax) / best gain over the `valid` candidates [G]."""
    best = best_unclicked(gain, ~valid)[1]
    chosen = gain[best_unclicked(eig, ~valid)[0]]
    return jnp.where(best > 0, (best - chosen) / best, jnp.nan)


def _top(x: jax.Array, valid: jax.Array, n) -> jax.Array:
    """bool [G]: the n valid entries of largest x (ties: the first index)."""
    order = jnp.argsort(jnp.where(valid, -x, jnp.inf), stable=True)
    return jnp.zeros(x.shape, bool).at[order].set(jnp.arange(x.shape[0]) < n)


def top_decile_hit(eig: jax.Array, gain: jax.Array, valid: jax.Array) -> jax.Array:
    """Share of the top-decile-gain candidates that are in EIG's top decile."""
    n = jnp.ceil(0.1 * jnp.sum(valid)).astype(jnp.int32)
    hits = jnp.sum(_top(gain, valid, n) & _top(eig, valid, n))
    return jnp.where(n > 0, hits / jnp.maximum(n, 1), jnp.nan)


def auroc(score: jax.Array, positive: jax.Array, valid: jax.Array) -> jax.Array:
    """P(score of a positive > score of a negative) + ½ P(equal) over the `valid` entries
    [G] (Mann-Whitney U / (n₊ n₋), from average ranks); NaN when either class is empty."""
    pos, neg = valid & positive, valid & ~positive
    n_pos, n_neg = jnp.sum(pos), jnp.sum(neg)
    ranks = average_ranks(score, valid)
    u = jnp.sum(jnp.where(pos, ranks, 0.0)) - n_pos * (n_pos + 1) / 2
    return jnp.where((n_pos > 0) & (n_neg > 0), u / jnp.maximum(n_pos * n_neg, 1), jnp.nan)
