"""Games of the papers and classic matrix games.

The ``mao2023_*`` games are those of appendix F of Mao, Qiu, Wang et al.,
"Multi-Agent Meta-Reinforcement Learning: Sharper Convergence Rates with Task
Similarity" (NeurIPS 2023): two-state games whose transitions depend on whether
the players' actions match. The paper's reward tables are partly missing from
its text; the tables used here are the library's choice and are stated in the
configs that use them. The ``zhang2022_*`` games are those of Zhang, Mei, Dai,
Schuurmans, Li, "On the Global Convergence Rates of Decentralized Softmax
Gradient Play in Markov Potential Games" (NeurIPS 2022), built from the
authors' published code. :func:`ratio_game` is von Neumann's ratio game of the
experiment of Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global
Optimality in Multi-Agent Reinforcement Learning" (ICML 2023), with the matrices
of the authors' code.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from marlmeta._checks import count, real_array, real_scalar
from marlmeta.games._betting import betting_game, betting_type_game
from marlmeta.games._constructors import (
    discounted_game,
    markov_game,
    matrix_game,
    zero_sum_game,
)
from marlmeta.games._cooperative import cooperative_game
from marlmeta.games._game import DiscountedMarkovGame, FiniteHorizonGame
from marlmeta.games._lq_tracking import lq_tracking as lq_tracking
from marlmeta.games._observations import ObservedGame
from marlmeta.games._poker import (  # noqa: F401  (re-exported)
    CARDS,
    HANDS,
    hand_ranks,
    load_range_file,
    perturbed_stacks,
    river_deals,
    river_endgame,
    river_endgame_family,
)
from marlmeta.games._private_types import PrivateTypeGame

#: Mao et al. F.1 base game (max-player's reward, rows its actions): both stage
#: games have a pure saddle point. The paper's Table 1 is missing from its text.
ZERO_SUM_PURE = ((0.8, 0.3), (0.5, 0.1)), ((0.6, 0.9), (0.2, 0.4))
#: A variant whose stage games have mixed equilibria near uniform.
ZERO_SUM_MIXED = ((0.9, 0.1), (0.2, 0.8)), ((0.3, 0.7), (0.6, 0.4))
#: Mao et al. F.2 identical-interest base game (the text's table is incomplete).
IDENTICAL_INTEREST = ((0.1, 0.5), (0.5, 1.0)), ((0.8, 0.2), (0.2, 0.6))


def matching_transitions(stay: float = 0.9, switch: float = 0.9, dtype=jnp.float32):
    """Two-state, two-action kernel of Mao et al. F.1 (time-homogeneous).

    If the two players' actions match the state stays with probability
    ``stay``; otherwise it switches with probability ``switch``.

    Returns:
        ``(1, 2, 2, 2, 2)`` array ``P[0, s, a, b, s']``.
    """
    real_scalar("stay", stay, 0.0, 1.0)
    real_scalar("switch", switch, 0.0, 1.0)
    p = jnp.zeros((2, 2, 2, 2), dtype)
    for s in range(2):
        for a in range(2):
            for b in range(2):
                moved = 1.0 - stay if a == b else switch
                p = p.at[s, a, b, 1 - s].set(moved).at[s, a, b, s].set(1.0 - moved)
    return p[None]


def mao2023_zero_sum(
    table=ZERO_SUM_PURE,
    horizon: int = 10,
    stay: float = 0.9,
    switch: float = 0.9,
    dtype=jnp.float32,
) -> FiniteHorizonGame:
    """Mao et al. F.1 base game: two states, 2x2 actions, starts in state 0.

    Args:
        table: max-player's reward ``table[s][a][b]``, shared by all steps.
        horizon: ``H``.
        stay: as in :func:`matching_transitions`.
        switch: as in :func:`matching_transitions`.
        dtype: floating dtype of the arrays.
    """
    r = real_array("table", table, dtype)
    reward = jnp.broadcast_to(r, (count("horizon", horizon), *r.shape))
    return zero_sum_game(
        reward, matching_transitions(stay, switch, dtype), jnp.array([1.0, 0.0], dtype)
    )


def mao2023_identical_interest(
    table=IDENTICAL_INTEREST,
    horizon: int = 10,
    stay: float = 0.9,
    switch: float = 0.9,
    dtype=jnp.float32,
) -> FiniteHorizonGame:
    """Mao et al. F.2 base game: two-player identical interest, two states.

    Arguments as in :func:`mao2023_zero_sum`; ``table`` is the common reward.
    """
    r = real_array("table", table, dtype)
    r = jnp.broadcast_to(r, (count("horizon", horizon), *r.shape))
    return markov_game(
        jnp.stack([r, r]),
        matching_transitions(stay, switch, dtype),
        jnp.array([1.0, 0.0], dtype),
        potential_reward=r,
    )


#: Zhang et al. Fig. 1 (G2): identical interest, 3 x 2 actions (the authors' code).
G2 = ((-1.0, 0.14), (0.16, 0.15), (0.2, -1.0))
#: Zhang et al. Fig. 2 (G3): the second slice of the third player's action.
G3_SECOND = ((-1.01, 0.13), (0.15, 0.14), (0.23, -1.01))


def identical_interest_matrix(reward, dtype=None) -> DiscountedMarkovGame:
    """An identical-interest matrix game as a one-state game with ``gamma = 0``.

    Zhang et al.'s experiments: ``d = 1``, ``1 / (1 - gamma) = 1``, and the common
    reward is the potential.

    Args:
        reward: ``(A_0, .., A_{N-1})``, every player's reward.
        dtype: floating dtype of the arrays.
    """
    r = real_array("reward", reward, dtype)[None]
    n = r.ndim - 1
    return discounted_game(
        jnp.stack([r] * n),
        jnp.ones((*r.shape, 1), dtype),
        jnp.ones((1,), dtype),
        0.0,
        potential_reward=r,
    )


def zhang2022_g2(dtype=None) -> DiscountedMarkovGame:
    """Zhang et al.'s G2: unique NE ``(a_1, a_2) = (3, 1)`` (1-indexed), value 0.2."""
    return identical_interest_matrix(G2, dtype)


def zhang2022_g3(dtype=None) -> DiscountedMarkovGame:
    """Zhang et al.'s G3 (3 x 2 x 2): unique pure NE ``(3, 1, 2)``, value 0.23."""
    return identical_interest_matrix(np.stack([G2, G3_SECOND], axis=-1), dtype)


def zhang2022_g8(dtype=None) -> DiscountedMarkovGame:
    """Zhang et al.'s G8: 8 players, 3 actions, MATLAB's ``rng(19765); rand(3, .., 3)``.

    MATLAB's default generator is the Mersenne Twister that NumPy's legacy
    ``RandomState`` also implements; the column-major fill is ``order='F'``.
    """
    r = np.random.RandomState(19765).random_sample(3**8).reshape([3] * 8, order="F")
    return identical_interest_matrix(r, dtype)


def matching_pennies() -> FiniteHorizonGame:
    """Matching pennies: value 0, unique equilibrium uniform."""
    r = jnp.array([[1.0, -1.0], [-1.0, 1.0]])
    return matrix_game(jnp.stack([r, -r]))


def rock_paper_scissors() -> FiniteHorizonGame:
    """Rock-paper-scissors: value 0, unique equilibrium uniform."""
    r = jnp.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    return matrix_game(jnp.stack([r, -r]))


def prisoners_dilemma() -> FiniteHorizonGame:
    """Prisoner's dilemma (action 1 = defect, strictly dominant)."""
    r0 = jnp.array([[3.0, 0.0], [5.0, 1.0]])
    return matrix_game(jnp.stack([r0, r0.T]))


#: Zhao et al. App. E (the authors' code): the ratio game's payoff ``R[a, b]``.
RATIO_REWARD = ((1.0, 0.5), (-0.5, 0.0))
#: ... and its stopping probabilities ``S[a, b]``.
RATIO_STOP = ((1.0, 1.0), (0.1, 0.1))
#: The discount of the embedding (any ``gamma >= 1 - min S`` works).
RATIO_DISCOUNT = 0.9


def ratio_game(dtype=None) -> DiscountedMarkovGame:
    """Von Neumann's ratio game ``V(x, y) = x^T R y / x^T S y`` as a discounted game.

    Two agents, two actions each, both maximising (cooperative). Each round the
    joint action ``(a, b)`` pays ``R[a, b]`` and the game stops with probability
    ``S[a, b]``. Embedded exactly with two states and ``gamma = 0.9``: from state
    0 the game stays with probability ``(1 - S[a, b]) / gamma`` and otherwise
    moves to the absorbing zero-reward state 1; it starts in state 0. Then
    ``V(0) = sigma . R / sigma . S`` for every joint policy ``sigma`` of state 0
    (``x^T R y / x^T S y`` for a product policy), the global maximum is ``1`` at
    ``(a, b) = (0, 0)``, and ``V(0.5, y) = 0.4545..`` for every ``y``.

    Args:
        dtype: floating dtype of the arrays.
    """
    r = jnp.asarray(RATIO_REWARD, dtype)
    stay = (1.0 - jnp.asarray(RATIO_STOP, r.dtype)) / RATIO_DISCOUNT
    reward = jnp.stack([r, jnp.zeros_like(r)])  # (S=2, A, B)
    probs = jnp.zeros((2, 2, 2, 2), r.dtype)
    probs = probs.at[0, :, :, 0].set(stay).at[0, :, :, 1].set(1.0 - stay)
    probs = probs.at[1, :, :, 1].set(1.0)
    return cooperative_game(
        reward, probs, jnp.array([1.0, 0.0], r.dtype), RATIO_DISCOUNT
    )


def kuhn_poker(
    dtype=jnp.float32, *, structured: bool = False
) -> ObservedGame | PrivateTypeGame:
    """Kuhn poker with observations (each player sees its card and the betting).

    Three cards (``0 < 1 < 2``), one to each player, ante 1 each: player 0
    passes or bets 1; after a pass player 1 passes (showdown for 1) or bets,
    and player 0 then folds or calls (showdown for 2); facing a bet, player 1
    folds or calls. Actions ``0`` = pass/fold, ``1`` = bet/call; states are the
    six deals times the betting slots of :mod:`marlmeta.games._betting`
    (``H = 3``, ``S = 13``). Player 0's equilibrium value is ``-1/18``
    (Kuhn, "A simplified two-person poker", 1950). With ``structured``, the
    same game as a :class:`~marlmeta.games.PrivateTypeGame` (a card pair
    times the betting, ``S = 9 x 3``; pairs of equal cards have probability 0).
    """
    if structured:
        c = np.arange(3)
        return betting_type_game(
            np.sign(c[:, None] - c[None, :]),
            (c[:, None] != c[None, :]).astype(float),
            pot=2.0,
            bet=1.0,
            scale=1.0,
            variant="check_bet_call",
            dtype=dtype,
        )
    c0, c1 = np.array([(a, b) for a in range(3) for b in range(3) if a != b]).T
    return betting_game(
        c0,
        c1,
        np.sign(c0 - c1),
        np.ones(6),
        num_hands=(3, 3),
        pot=2.0,
        bet=1.0,
        scale=1.0,
        variant="check_bet_call",
        dtype=dtype,
    )
