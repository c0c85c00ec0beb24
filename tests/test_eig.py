"""EIG: bounds, symmetries and limits (hypothesis), a plain-numpy reference, the NMC limit."""

import itertools

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from eigjax import eig

eig_exact = jax.jit(eig.eig_exact)  # jit outside @given: one compile per shape.

# Probabilities with saturated heads (exact 0 and 1) well represented.
prob = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0, width=32))


def probs_strategy(k):
    return hnp.arrays(np.float32, (k, 7), elements=prob)


def numpy_exact(probs: np.ndarray) -> np.ndarray:
    """H(mean) − mean H, written out with Python loops over pixels and heads."""
    p = np.asarray(probs, np.float64)
    out = np.zeros(p.shape[1:])
    for idx in np.ndindex(*p.shape[1:]):
        col = [p[(k, *idx)] for k in range(p.shape[0])]

        def h(x):
            return -sum(v * np.log(v) for v in (x, 1 - x) if v > 0)

        out[idx] = h(np.mean(col)) - np.mean([h(c) for c in col])
    return out


@pytest.mark.parametrize("k", [2, 3, 4])
@settings(deadline=None, max_examples=60)
@given(data=st.data())
def test_exact_is_bounded_and_matches_numpy(k, data):
    probs = data.draw(probs_strategy(k))
    value = np.asarray(eig_exact(jnp.asarray(probs)))
    assert np.all(value >= 0) and np.all(value <= min(np.log(2), np.log(k)) + 1e-6)
    np.testing.assert_allclose(value, numpy_exact(probs), atol=2e-6)


@settings(deadline=None, max_examples=60)
@given(column=hnp.arrays(np.float32, (1, 7), elements=prob), k=st.integers(1, 4))
def test_exact_is_zero_when_heads_agree(column, k):
    np.testing.assert_allclose(eig_exact(jnp.asarray(np.repeat(column, k, 0))), 0, atol=1e-6)


@settings(deadline=None, max_examples=60)
@given(probs=probs_strategy(3), perm=st.permutations(range(3)))
def test_exact_is_invariant_to_head_order_and_label_flip(probs, perm):
    base = np.asarray(eig_exact(jnp.asarray(probs)))
    np.testing.assert_allclose(eig_exact(jnp.asarray(probs[list(perm)])), base, atol=1e-6)
    np.testing.assert_allclose(eig_exact(jnp.asarray(1 - probs)), base, atol=1e-6)


def test_exact_reaches_log_k_and_log_2():
    np.testing.assert_allclose(eig_exact(jnp.array([[0.0], [1.0]])), np.log(2), rtol=1e-6)
    # K = 3 heads can carry at most log 2 nats through a binary label.
    assert float(eig_exact(jnp.array([[0.0], [1.0], [1.0]]))[0]) < np.log(2)


@pytest.mark.slow
def test_jit_vmap_over_maps_equals_loop():
    probs = jax.random.uniform(jax.random.key(0), (5, 3, 6, 8))
    batched = jax.jit(jax.vmap(eig.eig_exact))(probs)
    for i in range(5):
        np.testing.assert_allclose(batched[i], eig.eig_exact(probs[i]), atol=1e-7)
    nmc = jax.vmap(lambda k, p: eig.eig_nmc(k, p, 64, 8))(
        jax.random.split(jax.random.key(1), 5), probs
    )
    assert nmc.shape == (5, 6, 8) and np.all(np.isfinite(nmc))


@pytest.mark.slow
def test_nmc_matches_numpy_eq8_from_the_same_draws():
    probs = np.array([[0.2, 0.0, 1.0, 0.7], [0.9, 0.5, 1.0, 0.1], [0.6, 1.0, 0.0, 0.4]], np.float32)
    n, m = 12, 5
    key = jax.random.key(3)
    s = eig.nmc_samples(key, 3, n, m)
    _, _, k_inner = jax.random.split(key, 3)
    inner_heads = np.asarray(jax.random.randint(k_inner, (n, m), 0, 3))  # As nmc_samples draws.
    p = np.clip(probs.astype(np.float64), eig.EPS, 1 - eig.EPS)
    ref = np.zeros(4)
    for d in range(4):
        total = 0.0
        for i in range(n):
            theta0 = probs[int(s.outer_heads[i]), d]
            y = float(s.uniforms(i, (4,))[d]) < theta0

            def like(t, y=y):  # Eq. 7
                return t if y else 1 - t

            inner = np.mean([like(p[j, d]) for j in inner_heads[i]])
            total += np.log(like(p[int(s.outer_heads[i]), d])) - np.log(inner)
        ref[d] = total / n
    ours = np.mean(np.asarray(eig.eig_nmc_terms(jnp.asarray(probs), s)), axis=0)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(eig.eig_nmc(key, jnp.asarray(probs), n, m), ours, atol=1e-6)


def _nmc_error(probs, n, m, seed):
    s = eig.nmc_samples(jax.random.key(seed), probs.shape[0], n, m)
    terms = np.asarray(eig.eig_nmc_terms(probs, s), np.float64)
    est, se = terms.mean(0), terms.std(0, ddof=1) / np.sqrt(n)
    return est - np.asarray(eig.eig_exact(probs)), se


@pytest.mark.slow
def test_nmc_converges_to_exact_as_n_and_m_grow():
    """√N ∝ M: (256, 16), (1024, 32), (4096, 64); within 4 standard errors, error shrinks."""
    probs = jax.random.uniform(jax.random.key(7), (3, 200), minval=0.02, maxval=0.98)
    mean_abs = []
    for n, m in [(256, 16), (1024, 32), (4096, 64)]:
        err, se = _nmc_error(probs, n, m, seed=n)
        assert np.all(np.abs(err) <= 4 * se + 1e-6), (n, m, np.max(np.abs(err) / se))
        mean_abs.append(np.mean(np.abs(err)))
    assert mean_abs[0] > mean_abs[1] > mean_abs[2], mean_abs


@pytest.mark.slow
def test_nmc_is_biased_upward_at_small_m():
    probs = jax.random.uniform(jax.random.key(8), (3, 400), minval=0.05, maxval=0.95)
    for m in (1, 2):
        err, se = _nmc_error(probs, 2048, m, seed=m)
        assert np.mean(err) > 5 * np.sqrt(np.mean(se**2) / err.size), (m, np.mean(err))


@pytest.mark.parametrize("n,m", [(64, 4), (256, 1)])
def test_nmc_is_finite_with_saturated_heads(n, m):
    probs = jnp.array(list(itertools.product([0.0, 1.0, 0.5], repeat=3)), jnp.float32).T
    value = eig.eig_nmc(jax.random.key(0), probs, n, m)
    assert np.all(np.isfinite(value)) and np.all(value <= -np.log(eig.EPS) + 1e-3)
    assert np.all(np.isfinite(eig.eig_exact(probs)))


def test_nan_is_reported_eagerly_and_under_jit():
    probs = jnp.array([[0.2, jnp.nan], [0.3, 0.4]])
    with pytest.raises(ValueError, match="1 NaN"):
        eig.eig_exact(probs)
    with pytest.raises(Exception, match="1 NaN"):
        jax.block_until_ready(jax.jit(eig.eig_exact)(probs))
    with pytest.raises(Exception, match="NaN"):
        jax.block_until_ready(eig.eig_nmc(jax.random.key(0), probs, 8, 2))


@pytest.mark.parametrize(
    "probs, message",
    [
        ([[0.2, 1.5], [0.3, 0.4]], "1 probabilities outside"),
        ([[-0.1, 0.5], [0.3, -2.0]], "2 probabilities outside"),
        ([[0.2, np.inf], [0.3, 0.4]], "1 NaN or infinite"),
        (np.zeros((0, 5)), "at least one head"),
    ],
)
def test_invalid_probabilities_raise_a_value_error_in_both_estimators(probs, message):
    probs = np.asarray(probs, np.float32)
    with pytest.raises(ValueError, match=message):
        eig.eig_exact(probs)
    with pytest.raises(ValueError, match=message):
        eig.eig_nmc(jax.random.key(0), probs, 8, 2)
    if probs.size:
        with pytest.raises(Exception, match=message):  # Traced: at run time, by name.
            jax.block_until_ready(jax.jit(eig.eig_exact)(probs))


@pytest.mark.parametrize("n, m", [(0, 4), (4, 0), (-1, 2)])
def test_sample_sizes_below_one_raise(n, m):
    with pytest.raises(ValueError, match="at least 1"):
        eig.eig_nmc(jax.random.key(0), jnp.full((3, 2), 0.5), n, m)


weighted_exact = jax.jit(eig.eig_exact)


def numpy_weighted(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """H(Σ w θ) − Σ w H(θ) in float64, with w normalised."""
    p, w = np.asarray(probs, np.float64), np.asarray(weights, np.float64)
    w = (w / w.sum())[:, None]

    def h(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.nan_to_num(x * np.log(x)) - np.nan_to_num((1 - x) * np.log(1 - x))

    return h(np.sum(w * p, 0)) - np.sum(w * h(p), 0)


@settings(deadline=None, max_examples=60)
@given(
    probs=probs_strategy(3),
    weights=hnp.arrays(np.float32, (3,), elements=st.floats(0.125, 8.0, width=32)),
)
# Certain heads whose float32 weighted mean rounds above 1 (hypothesis found it: NaN).
@example(probs=np.ones((3, 7), np.float32), weights=np.float32([1.0, 2.00001, 2.3]))
def test_weighted_exact_matches_numpy_and_uniform_weights_are_the_paper(probs, weights):
    value = np.asarray(weighted_exact(jnp.asarray(probs), jnp.asarray(weights)))
    np.testing.assert_allclose(value, numpy_weighted(probs, weights), atol=3e-6)
    uniform = weighted_exact(jnp.asarray(probs), jnp.full(3, 2.5))
    np.testing.assert_allclose(uniform, eig_exact(jnp.asarray(probs)), atol=1e-6)


@settings(deadline=None, max_examples=30)
@given(probs=probs_strategy(3), head=st.integers(0, 2))
def test_weight_on_one_head_leaves_nothing_to_learn(probs, head):
    weights = np.zeros(3, np.float32)
    weights[head] = 1.0
    np.testing.assert_allclose(weighted_exact(jnp.asarray(probs), weights), 0, atol=1e-6)


@pytest.mark.slow
def test_weighted_nmc_converges_to_weighted_exact():
    probs = jnp.asarray(np.random.default_rng(3).uniform(0.02, 0.98, (3, 64)), jnp.float32)
    weights = jnp.asarray([0.7, 0.2, 0.1])
    estimate = eig.eig_nmc(jax.random.key(0), probs, 4096, 64, weights=weights)
    exact = eig.eig_exact(probs, weights)
    # The nested estimator's bias is O(1/M) upward; its noise at N = 4096 is about 0.005.
    assert float(jnp.mean(estimate - exact)) == pytest.approx(0.0, abs=0.01)
    assert float(jnp.max(jnp.abs(estimate - exact))) < 0.05
    uniform = eig.eig_nmc(jax.random.key(0), probs, 4096, 64)
    assert float(jnp.mean(jnp.abs(uniform - estimate))) > 0.01  # The weights matter.
