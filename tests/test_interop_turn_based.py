"""TurnBasedGame: exact values and NashConv of a hand-solved game.

Hidden matching pennies behind a coin flip: chance picks the stake ``c`` in
``{1, 2}`` (probability ``1/2`` each, seen by player 0 only); player 0 plays
H or T (a third action is illegal); player 1, who sees nothing, plays H or T;
player 0 wins ``c`` on a match and loses ``c`` otherwise. With player 0's
heads probabilities ``x_1, x_2`` (per stake) and player 1's ``y``:
``V_0 = sum_c c (2 x_c - 1)(2 y - 1) / 2``, ``B_0 = 1.5 |2y - 1|``,
``B_1 = |sum_c c (2 x_c - 1) / 2|``, so
``NashConv = 1.5 |2y - 1| + |sum_c c (2 x_c - 1)| / 2``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.games as G


def _pennies() -> G.TurnBasedGame:
    f = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    # Step 0: two nodes (stake 1, stake 2), player 0, information sets 0 and 1.
    step0 = G.TurnStep(
        player=jnp.array([0, 0]),
        infoset=jnp.array([0, 1]),
        legal=jnp.array([[True, True, False]] * 2),
        child=jnp.array([[[0], [1], [4]], [[2], [3], [4]]]),
        prob=jnp.array([[[1.0], [1.0], [0.0]]] * 2, f),
        reward=jnp.zeros((2, 3, 2), f),
    )
    # Step 1: nodes (stake, player 0's move); player 1's information set 2.
    stake = np.array([1.0, 1.0, 2.0, 2.0])
    move = np.array([0, 1, 0, 1])  # 0 = heads
    r0 = np.stack([np.where(move == a, stake, -stake) for a in (0, 1, 0)], axis=1)
    r0[:, 2] = 0.0
    step1 = G.TurnStep(
        player=jnp.ones(4, int),
        infoset=jnp.full(4, 2),
        legal=jnp.array([[True, True, False]] * 4),
        child=jnp.zeros((4, 3, 1), int),
        prob=jnp.zeros((4, 3, 1), f),
        reward=jnp.asarray(np.stack([r0, -r0], axis=-1), f),
    )
    return G.TurnBasedGame(
        (step0, step1), jnp.array([0.5, 0.5], f), jnp.array([0, 0, 1]), 2, 3
    )


@pytest.mark.parametrize(("x1", "x2", "y"), [(0.3, 0.9, 0.2), (0.5, 0.5, 0.5)])
def test_hand_solved_values_and_nash_conv(x1, x2, y):
    game = _pennies()
    table = np.array([[x1, 1 - x1, 0], [x2, 1 - x2, 0], [y, 1 - y, 0]])
    edge = (1 * (2 * x1 - 1) + 2 * (2 * x2 - 1)) / 2
    v0 = edge * (2 * y - 1)
    b = np.array([1.5 * abs(2 * y - 1), abs(edge)])
    v, best = jax.jit(lambda g, p: g.evaluate(p))(game, jnp.asarray(table))
    np.testing.assert_allclose(v, [v0, -v0], atol=1e-6)
    np.testing.assert_allclose(best, b, atol=1e-6)
    np.testing.assert_allclose(game.nash_conv(table), b.sum(), atol=1e-6)
    np.testing.assert_allclose(game.exploitability(table), b.sum() / 2, atol=1e-6)
    # A batch of policies in one call.
    many = jax.vmap(game.nash_conv)(jnp.stack([jnp.asarray(table)] * 3))
    np.testing.assert_allclose(many, [b.sum()] * 3, atol=1e-6)


def test_uniform_is_over_legal_actions_and_bad_policies_are_refused():
    game = _pennies()
    np.testing.assert_array_equal(game.uniform(), [[0.5, 0.5, 0.0]] * 3)
    assert game.node_counts == (2, 4) and game.horizon == 2
    bad = np.array([[0.5, 0.25, 0.25], [0.5, 0.5, 0], [0.5, 0.5, 0]])
    with pytest.raises(ValueError, match=r"policy\[0, 2\] is 0.25; action 2 is"):
        game.check_policy(bad)
    with pytest.raises(ValueError, match=r"policy has shape \(2, 3\)"):
        game.check_policy(bad[:2])
    with pytest.raises(ValueError, match=r"policy\[1\] sums to"):
        game.check_policy(np.array([[1.0, 0, 0], [0.5, 0.4, 0], [1, 0, 0]]))
    with pytest.raises(ValueError, match=r"steps\[0\].child has entries in \[0, 4\]"):
        G.TurnBasedGame(game.steps[:1], game.initial, game.infoset_player, 2, 3)
