"""EIG as a ranking of clicks: Spearman as scipy computes it, regret and top-decile hits
by their definitions, over the candidates not yet clicked."""

import hypothesis.extra.numpy as hnp
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from eigjax import ranking

G = 40
values = hnp.arrays(np.float32, G, elements=st.sampled_from([0.0, 0.1, 0.2, 0.5, 0.7, 1.0]))
valid = hnp.arrays(bool, G)
# Gains as the device holds them: XLA's CPU backend flushes float32 subnormals to zero, so
# a best gain of 1e-45 is 0 there (no gain: NaN regret) and positive in numpy.
gains = hnp.arrays(np.float32, G, elements=st.floats(-1, 1, width=32, allow_subnormal=False))


@settings(deadline=None, max_examples=60)
@given(a=values, b=values, v=valid)
def test_spearman_is_scipys_over_the_valid_candidates_ties_averaged(a, b, v):
    got = float(ranking.spearman(jnp.asarray(a), jnp.asarray(b), jnp.asarray(v)))
    if v.sum() < 2 or len(set(a[v])) < 2 or len(set(b[v])) < 2:
        assert np.isnan(got)
        return
    np.testing.assert_allclose(got, stats.spearmanr(a[v], b[v]).statistic, atol=1e-5)


@settings(deadline=None, max_examples=60)
@given(eig=values, gain=gains, v=valid)
def test_regret_is_the_share_of_the_best_gain_eigs_choice_misses(eig, gain, v):
    got = float(ranking.regret(jnp.asarray(eig), jnp.asarray(gain), jnp.asarray(v)))
    if not v.any() or gain[v].max() <= 0:
        assert np.isnan(got)
        return
    chosen = np.flatnonzero(v)[np.argmax(eig[v])]  # Ties: the first candidate.
    best = gain[v].max()
    np.testing.assert_allclose(got, (best - gain[chosen]) / best, rtol=1e-5, atol=1e-6)
    assert got >= 0  # Above 1 when EIG's click loses Dice.


def test_a_perfect_ranking_scores_one_and_zero_regret():
    gain = jnp.linspace(-0.2, 0.5, G)
    v = jnp.ones(G, bool).at[G - 1].set(False)  # The best point is taken: the next counts.
    eig = gain * 1e-4  # Same order, another scale.
    assert float(ranking.spearman(eig, gain, v)) == 1.0
    assert float(ranking.regret(eig, gain, v)) == 0.0
    assert float(ranking.top_decile_hit(eig, gain, v)) == 1.0
    assert float(ranking.top_decile_hit(-eig, gain, v)) == 0.0  # Reversed: no hit.


@settings(deadline=None, max_examples=60)
@given(eig=values, gain=values, v=valid)
def test_top_decile_hit_by_its_definition(eig, gain, v):
    got = float(ranking.top_decile_hit(jnp.asarray(eig), jnp.asarray(gain), jnp.asarray(v)))
    n = int(np.ceil(0.1 * v.sum()))
    if n == 0:
        assert np.isnan(got)
        return
    idx = np.flatnonzero(v)

    def top(x):  # The n largest of the valid, ties to the first index (a stable sort).
        return set(idx[np.argsort(-x[idx], kind="stable")[:n]])

    np.testing.assert_allclose(got, len(top(gain) & top(eig)) / n, rtol=1e-6)


@settings(deadline=None, max_examples=60)
@given(score=values, positive=valid, v=valid)
def test_auroc_is_mann_whitney_over_the_valid_entries(score, positive, v):
    got = float(ranking.auroc(jnp.asarray(score), jnp.asarray(positive), jnp.asarray(v)))
    pos, neg = score[v & positive], score[v & ~positive]
    if not pos.size or not neg.size:
        assert np.isnan(got)
        return
    u = stats.mannwhitneyu(pos, neg).statistic
    np.testing.assert_allclose(got, u / (pos.size * neg.size), atol=1e-5)
