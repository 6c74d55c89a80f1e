"""Aggre-VI (Algorithms 3 and 4): model estimates against the true kernel, the
width certificate against the exact NE-gap, determinism under a key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.aggregative as A

EPISODES = 80


@pytest.mark.parametrize("learn_rewards", [False, True])
def test_aggre_vi_width_shrinks_and_bounds_the_gap(learn_rewards):
    g = A.random_aggregative(
        jax.random.key(1),
        horizon=2,
        num_players=3,
        num_actions=2,
        slope_scale=0.2,
        coupling_scale=0.2,
    )
    vi = A.AggreVI(
        alpha=0.1, num_episodes=EPISODES, bonus=0.05, learn_rewards=learn_rewards
    )
    step = jax.jit(vi.step)
    start = A.AggreVIInit(A.make_grid(g, 0.1), jax.random.key(0))
    st = vi.init(g, start)
    widths = []
    for _ in range(EPISODES):
        st = step(g, st)
        widths.append(float(st.best_width))
    assert np.all(np.diff(widths) <= 0) and widths[-1] < 0.6 * widths[0]
    assert int(st.counts.sum()) == EPISODES * g.horizon
    np.testing.assert_array_equal(np.asarray(st.counts).sum((1, 2)), EPISODES)
    gap = float(A.ne_gap(g, vi.output(g, st)))
    assert gap <= widths[-1] + float(A.width_bound(g, 0.1))
    # the empirical kernel of well-visited cells matches the true kernel at
    # the cell centre up to the cell's spread and sampling noise
    pts = np.asarray(st.grid.points())
    counts = np.asarray(st.counts)
    for h, s, c in zip(*np.nonzero(counts >= 40), strict=True):
        p_hat = np.asarray(st.next_counts)[h, s, c] / counts[h, s, c]
        p_true = np.asarray(g.transitions(h, s, jnp.asarray(pts[c])))
        tol = float(g.gamma_p) * 0.05 + 4 / np.sqrt(counts[h, s, c])
        assert 0.5 * np.abs(p_hat - p_true).sum() <= tol
    if learn_rewards:
        assert float(np.asarray(st.reward_counts).sum()) == EPISODES * g.horizon * 3
    # the same key gives the same run
    st2 = vi.init(g, start)
    for _ in range(5):
        st2 = step(g, st2)
    st3 = vi.init(g, start)
    for _ in range(5):
        st3 = step(g, st3)
    np.testing.assert_array_equal(st2.counts, st3.counts)
