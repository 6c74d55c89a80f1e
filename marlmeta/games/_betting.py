"""One betting round after a deal of private hands, as a turn-based Markov game.

The state is (deal, betting slot). Actions are 2 per player at every step:
``0`` = pass (check or fold), ``1`` = bet or call; the player who does not act
has a dummy action (rewards and transitions ignore it). A deal ``d`` gives
player 0 its hand ``hand0[d]`` and player 1 ``hand1[d]``; ``sd[d]`` is the
showdown outcome for player 0 (``+1`` win, ``0`` tie, ``-1`` loss). Both put
``pot / 2`` in before the round; a bet is ``bet``; rewards are player 0's net
chips divided by ``scale`` (zero-sum). Transitions are deterministic (a sparse
kernel of fan-out 1); the last state ``z`` is absorbing with reward 0.

- ``bet_call`` (``H = 2``, ``S = N + 1``): player 0 checks (showdown for
  ``pot / 2``) or bets; facing a bet, player 1 folds (``+pot / 2``) or calls
  (``sd (pot / 2 + bet)``).
- ``check_bet_call`` (``H = 3``, ``S = 2 N + 1``): after a check player 1 checks
  (showdown) or bets, and player 0 then folds (``-pot / 2``) or calls; slots
  ``A(d) = d`` (checked), ``B(d) = N + d`` (bet), ``C(d) = d`` (check, bet).

Kuhn poker is ``check_bet_call`` with three cards, ``pot = 2`` and ``bet = 1``.
Player ``i`` observes its own hand and the betting slot.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from marlmeta.games._game import FiniteHorizonGame
from marlmeta.games._legal import ALL_LEGAL
from marlmeta.games._observations import ObservedGame, observe
from marlmeta.games._private_type_matrices import TypeFactorRewards
from marlmeta.games._private_types import PrivateTypeGame, PublicTransitions
from marlmeta.games._rewards import ZeroSumRewards
from marlmeta.games._transitions import SparseTransitions

VARIANTS = ("bet_call", "check_bet_call")


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant is {variant!r}; expected one of {VARIANTS}")


def betting_rewards(sd, pot, bet, scale, variant: str, dtype=np.float32):
    """Player 0's rewards ``(H, S, 2, 2)`` (``NumPy``; see the module text)."""
    _check_variant(variant)
    sd = np.asarray(sd, np.float64)
    n = sd.shape[0]
    half, call = pot / 2.0, sd * (pot / 2.0 + bet)
    if variant == "bet_call":
        r = np.zeros((2, n + 1, 2, 2))
        r[0, :n, 0, :] = (sd * half)[:, None]  # check: showdown
        r[1, :n, :, 0] = half  # player 1 folds
        r[1, :n, :, 1] = call[:, None]
    else:
        r = np.zeros((3, 2 * n + 1, 2, 2))
        r[1, :n, :, 0] = (sd * half)[:, None]  # check, check
        r[1, n : 2 * n, :, 0] = half  # bet, fold
        r[1, n : 2 * n, :, 1] = call[:, None]
        r[2, :n, 0, :] = -half  # check, bet, fold
        r[2, :n, 1, :] = call[:, None]
    return (r / scale).astype(dtype)


def _kernel(n: int, variant: str) -> np.ndarray:
    """``next_state[h, s, a_0, a_1]`` (fan-out 1)."""
    d = np.arange(n)
    if variant == "bet_call":
        z = n
        nxt = np.full((2, n + 1, 2, 2), z, np.int32)
        nxt[0, :n, 1, :] = d[:, None]  # bet
        return nxt
    z = 2 * n
    nxt = np.full((3, 2 * n + 1, 2, 2), z, np.int32)
    nxt[0, :n, 0, :] = d[:, None]  # check -> A(d)
    nxt[0, :n, 1, :] = (n + d)[:, None]  # bet -> B(d)
    nxt[1, :n, :, 1] = d[:, None]  # check, bet -> C(d)
    return nxt


def _observations(hands, n: int, num_hands: int, variant: str) -> np.ndarray:
    """``obs[h, s] = slot * num_hands + hand``; ``z`` and unused states see
    the last observation ``num_slots * num_hands``."""
    slots = 2 if variant == "bet_call" else 4
    horizon = 2 if variant == "bet_call" else 3
    size = n + 1 if variant == "bet_call" else 2 * n + 1
    none = slots * num_hands
    obs = np.full((horizon, size), none, np.int32)
    obs[0, :n] = hands
    obs[1, :n] = num_hands + hands
    if variant == "check_bet_call":
        obs[1, n : 2 * n] = 2 * num_hands + hands
        obs[2, :n] = 3 * num_hands + hands
    return obs


def betting_game(
    hand0,
    hand1,
    sd,
    weight,
    *,
    num_hands: tuple[int, int],
    pot: float,
    bet: float,
    scale: float,
    variant: str,
    dtype=np.float32,
    check: bool = True,
) -> ObservedGame:
    """The betting game of the module text, with observations.

    Args:
        hand0, hand1: ``(N,)`` each player's hand index of deal ``d``.
        sd: ``(N,)`` showdown outcome for player 0.
        weight: ``(N,)`` non-negative deal weights (``initial`` is their
            normalisation over the deal states).
        num_hands: hands per player (``O_i = num_slots * num_hands[i] + 1``).
        pot, bet, scale: chips before the round, the bet, the reward unit.
        variant: ``"bet_call"`` or ``"check_bet_call"``.
        dtype: floating dtype of rewards, transitions and ``initial``.
        check: run the perfect-recall check.
    """
    _check_variant(variant)
    n = len(sd)
    nxt = _kernel(n, variant)
    w = np.asarray(weight, np.float64)
    initial = np.zeros(nxt.shape[1])
    initial[:n] = w / w.sum()
    game = FiniteHorizonGame(
        ZeroSumRewards(
            jnp.asarray(betting_rewards(sd, pot, bet, scale, variant, dtype))
        ),
        SparseTransitions(nxt[..., None], np.ones(nxt.shape + (1,), dtype)),
        jnp.asarray(initial, dtype),
        None,
        (2, 2),
        nxt.shape[0],
    )
    slots = 2 if variant == "bet_call" else 4
    obs = [
        _observations(np.asarray(h), n, k, variant)
        for h, k in zip((hand0, hand1), num_hands, strict=True)
    ]
    counts = tuple(slots * k + 1 for k in num_hands)
    return observe(game, obs, counts, check=check)


def _slots(variant: str) -> np.ndarray:
    """Public slot ``(H, P)`` of each public part, ``-1`` where none."""
    obs = _observations(np.zeros(1, np.int32), 1, 1, variant)
    num_slots = 2 if variant == "bet_call" else 4
    return np.where(obs == num_slots, -1, obs).astype(np.int32)


def betting_type_rewards(
    sd, pot, bet, scale, variant: str, dtype=np.float32
) -> TypeFactorRewards:
    """The rewards of :func:`betting_type_game`, factored: the rewards are
    affine in the showdown outcome, ``r_0 = C_0 + sd(t_0, t_1) C_1`` with
    ``C_0`` the rewards of a tie and ``C_1`` those of a win minus a tie, on the
    public parts ``(H, P, 2, 2)`` (``sd``: ``(n_0, n_1)``)."""
    sd = np.asarray(sd, np.float64)
    tie = betting_rewards(np.zeros(1), pot, bet, scale, variant, np.float64)
    win = betting_rewards(np.ones(1), pot, bet, scale, variant, np.float64)
    return TypeFactorRewards(
        jnp.asarray(np.stack([np.ones_like(sd), sd]), dtype),
        jnp.asarray(np.stack([tie, win - tie]), dtype),
    )


def betting_type_game(
    sd,
    weight,
    *,
    pot: float,
    bet: float,
    scale: float,
    variant: str,
    dtype=np.float32,
) -> PrivateTypeGame:
    """The betting game of the module text on (hand pair, public part) states.

    The same game as :func:`betting_game` over the deals of positive weight,
    stored as a :class:`~marlmeta.games.PrivateTypeGame`: the public parts are
    the betting slots and the end, and the hands a pair of private types.

    Args:
        sd: ``(n_0, n_1)`` showdown outcome for player 0 of each hand pair.
        weight: ``(n_0, n_1)`` non-negative weights of the hand pairs (``0``
            for pairs that cannot be dealt, e.g. sharing a card).
        pot, bet, scale: chips before the round, the bet, the reward unit.
        variant: ``"bet_call"`` or ``"check_bet_call"``.
        dtype: floating dtype of rewards and ``initial``.
    """
    _check_variant(variant)
    w = np.asarray(weight, np.float64)
    num_types = tuple(int(n) for n in w.shape)
    nxt = _kernel(1, variant)  # the public kernel: one deal
    num_public = nxt.shape[1]
    initial = np.zeros((w.size, num_public))
    initial[:, 0] = w.reshape(-1) / w.sum()
    slots = jnp.asarray(_slots(variant))
    num_slots = 2 if variant == "bet_call" else 4
    return PrivateTypeGame(
        reward_model=betting_type_rewards(sd, pot, bet, scale, variant, dtype),
        transitions=PublicTransitions(jnp.asarray(nxt), w.size),
        initial=jnp.asarray(initial.reshape(-1), dtype),
        potential_reward=None,
        num_actions=(2, 2),
        horizon=nxt.shape[0],
        slots=(slots, slots),
        num_types=num_types,
        num_observations=tuple(num_slots * n + 1 for n in num_types),
        legal=ALL_LEGAL,
    )
