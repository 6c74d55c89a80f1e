"""Observation policies: lifting, perfect recall, exact restricted best responses.

References: brute-force enumeration of every deterministic observation policy
(vectorised NumPy backward induction written here), the full-state best
response of ``tests/reference.py``, and Kuhn poker's published numbers.
"""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from marlmeta import evaluation, policies
from marlmeta.games import markov_game, observe, zoo
from tests import reference

# ----------------------------------------------------------- a random game


def tree_game(seed: int, reveal: bool):
    """Two players, ``H = 2``: private types, simultaneous actions, then a chance
    bit that player 0 sees; player 1 sees player 0's action when ``reveal``."""
    rng = np.random.default_rng(seed)
    S, H = 32, 2
    initial = np.zeros(S)
    initial[:4] = rng.dirichlet(np.ones(4))
    P = np.zeros((H, S, 2, 2, S))
    P[1, :, :, :, 0] = 1.0
    P[0, 4:, :, :, 0] = 1.0
    chance = rng.uniform(0.1, 0.9, (4, 2, 2))
    for t, a, b in itertools.product(range(4), range(2), range(2)):
        base = ((t * 4) + a * 2 + b) * 2
        P[0, t, a, b, base] = chance[t, a, b]
        P[0, t, a, b, base + 1] = 1 - chance[t, a, b]
    r = rng.normal(size=(H, S, 2, 2))
    obs = np.zeros((2, H, S), np.int64)
    for t in range(4):
        obs[0, 0, t], obs[1, 0, t] = t // 2, t % 2
    for s in range(S):
        t, rest = divmod(s // 2, 4)
        a, b, c = rest // 2, rest % 2, s % 2
        obs[0, 1, s] = 2 + ((t // 2) * 2 + a) * 2 + c
        obs[1, 1, s] = (
            2 + ((t % 2) * 2 + b) * (2 if reveal else 1) + (a if reveal else 0)
        )
    game = markov_game(np.stack([r, -r]), P, initial)
    return observe(game, list(obs)), np.stack([r, -r]), P, initial, obs


def values_batch(rewards, P, initial, p0, p1):
    """Values ``(M, 2)`` of ``M`` state-level product policies (NumPy)."""
    H, S = rewards.shape[1:3]
    V = np.zeros((p0.shape[0], 2, S))
    for h in reversed(range(H)):
        q = rewards[None, :, h] + np.einsum("sabt,mit->misab", P[h], V)
        V = np.einsum("misab,msa,msb->mis", q, p0[:, h], p1[:, h])
    return V @ initial


def relevant(game, i):
    """The (h, o) where player i's action is not a dummy at a reachable state."""
    P = np.asarray(game.transitions.dense())
    r = np.asarray(game.rewards)
    reach = np.zeros((game.horizon, game.num_states), bool)
    reach[0] = np.asarray(game.initial) > 0
    for h in range(game.horizon - 1):
        reach[h + 1] = (P[h][reach[h]] > 0).reshape(-1, game.num_states).any(0)
    obs = np.asarray(game.observations[i])
    out = set()
    for h in range(game.horizon):
        for s in np.flatnonzero(reach[h]):
            rs = np.moveaxis(r[:, h, s], 1 + i, 1)
            ps = np.moveaxis(P[h, s], i, 0)
            if not (np.allclose(rs[:, 0:1], rs) and np.allclose(ps[0:1], ps)):
                out.add((h, int(obs[h, s])))
    return sorted(out)


def brute_force_best(game, tables, i, rewards, P, initial):
    """Max over deterministic observation policies of player i (NumPy)."""
    obs = [np.asarray(o) for o in game.observations]
    spots = relevant(game, i)
    A = game.num_actions[i]
    choices = np.array(list(itertools.product(range(A), repeat=len(spots))))
    own = np.full((len(choices), *tables[i].shape), 1.0 / A)
    for k, (h, o) in enumerate(spots):
        own[:, h, o] = np.eye(A)[choices[:, k]]
    lifted = [
        np.take_along_axis(t, o[..., None], axis=-2)
        for t, o in zip(tables, obs, strict=True)
    ]
    own_lifted = np.take_along_axis(own, obs[i][None, ..., None], axis=-2)
    other = np.broadcast_to(lifted[1 - i], (len(choices), *lifted[1 - i].shape))
    pols = (own_lifted, other) if i == 0 else (other, own_lifted)
    return values_batch(rewards, P, initial, *pols)[:, i].max()


def random_tables(game, seed):
    rng = np.random.default_rng(seed)
    return [
        rng.dirichlet(np.ones(a), size=(game.horizon, o))
        for o, a in zip(game.num_observations, game.num_actions, strict=True)
    ]


# ------------------------------------------------------------------ tests


def test_lift_matches_loops():
    game, *_ = tree_game(0, reveal=True)
    tables = random_tables(game, 1)
    pol = policies.observation_policy(game, tables)
    lifted = pol.lift()
    obs = np.asarray(game.observations[1])
    for h, s in itertools.product(range(game.horizon), range(game.num_states)):
        np.testing.assert_array_equal(lifted[1][h, s], tables[1][h, obs[h, s]])


@pytest.mark.parametrize("seed, reveal", [(0, True), (1, False), (2, True)])
def test_best_response_equals_brute_force(seed, reveal):
    game, rewards, P, initial, _ = tree_game(seed, reveal)
    tables = random_tables(game, seed + 10)
    pol = policies.observation_policy(game, tables)
    best = np.asarray(evaluation.best_response_values(game, pol))
    full = np.asarray(evaluation.full_state_best_response_values(game, pol))
    ref_full = reference.finite_best_response_values(
        rewards, P, initial, [np.asarray(t) for t in pol.lift()]
    )
    np.testing.assert_allclose(full, ref_full, atol=1e-12)
    for i in range(2):
        brute = brute_force_best(game, tables, i, rewards, P, initial)
        np.testing.assert_allclose(best[i], brute, atol=1e-12)
        assert best[i] <= full[i] + 1e-12
    # The full-state deviation strictly helps somewhere in these games.
    assert np.any(full > best + 1e-6)
    values = reference.finite_values(
        rewards, P, initial, [np.asarray(t) for t in pol.lift()]
    )
    np.testing.assert_allclose(evaluation.values(game, pol), values, atol=1e-12)
    np.testing.assert_allclose(evaluation.gains(game, pol), best - values, atol=1e-12)


def test_perfect_recall_rejects_forgetting():
    _, rewards, P, initial, obs = tree_game(0, reveal=False)
    forgetful = obs.copy()
    forgetful[0, 1] = np.where(np.arange(32) < 4, 0, 2 + (np.arange(32) // 16))
    game = markov_game(rewards, P, initial)
    with pytest.raises(ValueError, match=r"player 0 .* step 1 observation 2 follows"):
        observe(game, list(forgetful))
    with pytest.raises(
        ValueError, match=r"\(step 0: obs 0, action 0\) and \(step 0: obs 0, action 1\)"
    ):
        observe(game, list(forgetful))


def test_observe_rejects_bad_maps():
    game, rewards, P, initial, obs = tree_game(0, reveal=False)
    plain = markov_game(rewards, P, initial)
    bad = obs.copy()
    bad[1, 1, 3] = -1
    with pytest.raises(ValueError, match=r"observations\[1\]\[1, 3\] is -1"):
        observe(plain, list(bad))
    with pytest.raises(ValueError, match="has shape"):
        observe(plain, [obs[0][:1], obs[1]])
    with pytest.raises(ValueError, match="needs a game with observations"):
        policies.observation_uniform(plain)


def kuhn_equilibrium(alpha):
    """Kuhn's equilibrium family (player 0 mixes with ``alpha`` in [0, 1/3])."""
    p0, p1 = np.full((3, 13, 2), 0.5), np.full((3, 13, 2), 0.5)
    bet = {0: alpha, 1: 0.0, 2: 3 * alpha}  # J, Q, K
    call = {0: 0.0, 1: alpha + 1 / 3, 2: 1.0}
    for c in range(3):
        p0[0, c] = [1 - bet[c], bet[c]]
        p0[2, 9 + c] = [1 - call[c], call[c]]
    for c, (b, k) in enumerate([(1 / 3, 0.0), (0.0, 1 / 3), (1.0, 1.0)]):
        p1[1, 3 + c] = [1 - b, b]  # after a check: bet
        p1[1, 6 + c] = [1 - k, k]  # facing a bet: call
    return [p0, p1]


def test_kuhn_uniform_and_equilibrium():
    game = zoo.kuhn_poker(jnp.float64)
    uniform = policies.observation_uniform(game)
    # OpenSpiel: exploitability of the uniform Kuhn policy 0.458333...
    np.testing.assert_allclose(evaluation.nash_conv(game, uniform), 11 / 12, atol=1e-12)
    for alpha in (0.0, 0.2, 1 / 3):
        pol = policies.observation_policy(game, kuhn_equilibrium(alpha))
        np.testing.assert_allclose(
            evaluation.values(game, pol), [-1 / 18, 1 / 18], atol=1e-12
        )
        np.testing.assert_allclose(evaluation.gains(game, pol), 0.0, atol=1e-12)
        assert evaluation.full_state_nash_conv(game, pol) > 0.1
    # A perturbed equilibrium is exploitable; brute force agrees.
    tables = kuhn_equilibrium(0.2)
    tables[1][1, 6 + 1] = [0.5, 0.5]
    pol = policies.observation_policy(game, tables)
    dense = (
        np.asarray(game.rewards),
        np.asarray(game.transitions.dense()),
        np.asarray(game.initial),
    )
    brute = brute_force_best(game, tables, 0, *dense)
    np.testing.assert_allclose(
        evaluation.best_response_values(game, pol)[0], brute, atol=1e-12
    )
    assert evaluation.nash_conv(game, pol) > 1e-3


def test_kuhn_counts_and_perfect_recall():
    game = zoo.kuhn_poker()
    assert game.num_states == 13 and game.horizon == 3
    assert game.num_observations == (13, 13)
    assert [len(relevant(game, i)) for i in range(2)] == [6, 6]


def test_float32_and_bad_tables():
    game = zoo.kuhn_poker()  # float32
    uniform = policies.observation_uniform(game)
    assert uniform.dtype == jnp.float32
    nc = evaluation.nash_conv(game, uniform)
    assert nc.dtype == jnp.float32 and abs(float(nc) - 11 / 12) < 1e-6
    tables = [np.full((3, 13, 2), 0.5), np.full((3, 13, 2), 0.5)]
    tables[1][2, 4] = [1.5, -0.5]
    with pytest.raises(ValueError, match=r"policy\[1\]\[2, 4, 1\] is -0.5"):
        policies.observation_policy(game, tables)
    short = policies.ObservationPolicy(
        (uniform[0][:, :5], uniform[1]), uniform.observations
    )
    with pytest.raises(ValueError, match=r"policy\[0\] has 5 rows"):
        evaluation.nash_conv(game, short)
