"""Batches and families of games: stacking, random generators, perturbations.

Every generator takes a ``key`` and ``num_games`` and returns one game pytree
with a leading batch axis of length ``num_games`` on every leaf. With
``discount=None`` a generator makes finite-horizon games (``horizon`` steps);
with a discount it makes discounted games.

Perturbation families add Gaussian reward noise of standard deviation ``std``,
drawn once per game and entry ``(s, a_0, .., a_{N-1})`` and shared by all
steps. By default a family keeps the structure of the game it perturbs: a
zero-sum game gives a zero-sum family, an identical-interest or potential game
an identical-interest (potential) family, a general-sum game a general-sum one;
independent noise on every player's reward only when asked
(``coupling="independent"``).

Sizes are checked (positive integers, not ``bool``, floats or strings), and so
are ``discount`` (a real number in ``[0, 1)``) and ``std`` (a finite real
``>= 0``); a ``ValueError`` names the argument and the value.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import PRNGKeyArray

from marlmeta._checks import (
    concrete,
    count,
    counts,
    float_dtype,
    real_scalar,
)
from marlmeta.games._game import (
    AbstractMarkovGame,
    DiscountedMarkovGame,
    FiniteHorizonGame,
)
from marlmeta.games._rewards import IdenticalRewards, ZeroSumRewards
from marlmeta.games._transitions import DenseTransitions


def stack(games: list[AbstractMarkovGame]) -> AbstractMarkovGame:
    """Stack games of one structure into a batch (a leading axis on every leaf)."""
    if not games:
        raise ValueError("games is empty; expected at least one game")
    structure = jax.tree.structure(games[0])
    for k, g in enumerate(games[1:], start=1):
        if jax.tree.structure(g) != structure:
            raise ValueError(f"games[{k}] has a different structure from games[0]")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *games)


def unstack(games: AbstractMarkovGame) -> list[AbstractMarkovGame]:
    """Inverse of :func:`stack`: the games of a batch, in order.

    Raises:
        ValueError: ``games`` is one game, not a batch.
    """
    if not games.batch_shape:
        raise ValueError(
            "unstack takes a batch of games; got one game (initial has shape "
            f"{tuple(games.initial.shape)}): use [game] or stack([game])"
        )
    n = games.batch_shape[0]
    return [jax.tree.map(lambda x, k=k: x[k], games) for k in range(n)]


def _kernel(key, lead: tuple[int, ...], num_states: int, dtype):
    """Random rows on the simplex (flat Dirichlet), shape ``(*lead, S)``.

    A flat Dirichlet is the normalised vector of i.i.d. ``Exp(1)`` draws.
    """
    e = jr.exponential(key, (*lead, num_states), dtype)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def _build(rewards, probs, initial, discount, potential_reward):
    """One game from batched arrays (valid by construction)."""
    num_actions = tuple(int(a) for a in probs.shape[3:-1])
    trans = DenseTransitions(probs)
    if discount is None:
        return FiniteHorizonGame(
            reward_model=rewards,
            transitions=trans,
            initial=initial,
            potential_reward=potential_reward,
            num_actions=num_actions,
            horizon=int(probs.shape[1]),
        )
    return DiscountedMarkovGame(
        reward_model=rewards,
        transitions=trans,
        initial=initial,
        potential_reward=potential_reward,
        discount=jnp.full(probs.shape[:1], discount, probs.dtype),
        num_actions=num_actions,
    )


def _general_sum_rewards(key, shape, n, dtype):
    return jr.uniform(key, (shape[0], n, *shape[1:]), dtype), None


def _zero_sum_rewards(key, shape, n, dtype):
    return ZeroSumRewards(jr.uniform(key, shape, dtype)), None


def _identical_rewards(key, shape, n, dtype):
    r = jr.uniform(key, shape, dtype)
    return IdenticalRewards(r, n), r


def _potential_rewards(key, shape, n, dtype):
    """``r_i = phi + u_i`` with ``u_i`` constant in player ``i``'s own action."""
    k_phi, k_u = jr.split(key)
    phi = jr.uniform(k_phi, shape, dtype)
    us = []
    for i, k_i in enumerate(jr.split(k_u, n)):
        u_shape = list(shape)
        u_shape[len(shape) - n + i] = 1
        us.append(jnp.broadcast_to(jr.uniform(k_i, tuple(u_shape), dtype), shape))
    return phi[:, None] + jnp.stack(us, axis=1), phi


def _random(
    key, num_games, num_actions, num_states, horizon, discount, dtype, rewards_fn
):
    """Shared body of the generators."""
    n = len(num_actions)
    steps = 1 if discount is not None else horizon
    time = () if discount is not None else (horizon,)
    k_r, k_p, k_0 = jr.split(key, 3)
    shape = (num_games, *time, num_states, *num_actions)
    rewards, phi = rewards_fn(k_r, shape, n, dtype)
    probs = _kernel(
        k_p, (num_games, steps, num_states, *num_actions), num_states, dtype
    )
    if rewards_fn is _potential_rewards:
        # Action-independent transitions: the kernel of the first joint action.
        first = probs[(slice(None),) * 3 + (0,) * n]
        probs = jnp.broadcast_to(first[(slice(None),) * 3 + (None,) * n], probs.shape)
    initial = _kernel(k_0, (num_games,), num_states, dtype)
    return _build(rewards, probs, initial, discount, phi)


def _generator(rewards_fn, doc):
    def generate(
        key: PRNGKeyArray,
        num_games: int,
        num_actions: tuple[int, ...] = (2, 2),
        num_states: int = 2,
        horizon: int = 5,
        *,
        discount: float | None = None,
        dtype=jnp.float32,
    ) -> AbstractMarkovGame:
        num_actions = counts("num_actions", num_actions)
        if rewards_fn is _zero_sum_rewards and len(num_actions) != 2:
            raise ValueError(
                f"num_actions is {num_actions}; a zero-sum game has 2 players"
            )
        if discount is not None:
            discount = float(real_scalar("discount", discount, 0, 1, high_open=True))
        return _random(
            key,
            count("num_games", num_games),
            num_actions,
            count("num_states", num_states),
            count("horizon", horizon),
            discount,
            float_dtype(dtype),
            rewards_fn,
        )

    generate.__doc__ = doc + _GENERATOR_ARGS
    return generate


_GENERATOR_ARGS = """

    Args:
        key: PRNG key.
        num_games: size of the batch (the leading axis of every leaf).
        num_actions: per-player action counts.
        num_states: ``S``.
        horizon: ``H`` (finite-horizon games only).
        discount: ``None`` for finite-horizon games, else ``gamma`` in ``[0, 1)``.
        dtype: floating dtype of the arrays.

    Transitions are flat-Dirichlet rows and the initial distribution too.
    Pure: the caller owns ``jit`` (every argument but ``key`` is static, so
    ``eqx.filter_jit(random_zero_sum)(key, 8)`` draws in one compiled program).
    """

random_general_sum = _generator(
    _general_sum_rewards, "Random general-sum games: rewards ``U[0, 1]``."
)
random_general_sum.__name__ = "random_general_sum"
random_zero_sum = _generator(
    _zero_sum_rewards,
    "Random two-player zero-sum games: ``r_0 ~ U[0, 1]``, ``r_1 = -r_0``.",
)
random_zero_sum.__name__ = "random_zero_sum"
random_identical_interest = _generator(
    _identical_rewards,
    "Random identical-interest games: one ``U[0, 1]`` reward for every player;\n"
    "    the potential reward is that common reward.",
)
random_identical_interest.__name__ = "random_identical_interest"
_POTENTIAL_DOC = """Random Markov potential games.

    ``r_i(s, a) = phi(s, a) + u_i(s, a_{-i})`` with ``phi, u_i ~ U[0, 1]``, ``u_i``
    constant in player ``i``'s own action, and transitions that do not depend on
    the actions. Then ``V_i(pi_i', pi_{-i}) - V_i(pi) = Phi(pi_i', pi_{-i}) -
    Phi(pi)`` exactly, ``Phi`` being the value of ``phi``."""
random_potential = _generator(_potential_rewards, _POTENTIAL_DOC)
random_potential.__name__ = "random_potential"


def _family_size(game: AbstractMarkovGame, caller: str, num_games, std) -> int:
    """Check the arguments every perturbation family shares."""
    game.require_one_game(caller)
    real_scalar("std", std, 0.0)
    return count("num_games", num_games)


def perturb_rewards(
    key: PRNGKeyArray,
    game: AbstractMarkovGame,
    num_games: int,
    std: float,
    *,
    coupling: Literal["independent", "zero_sum", "identical"] | None = None,
) -> AbstractMarkovGame:
    """A family of ``num_games`` games: ``game`` plus Gaussian reward noise.

    Noise ``N(0, std^2)`` is drawn once per game and entry ``(s, a)`` and shared
    by all steps ``h``. By default the family keeps the game's structure.

    Args:
        key: PRNG key.
        game: the base game (one game, not a batch).
        num_games: size of the family (an integer ``>= 1``).
        std: standard deviation of the noise (finite, ``>= 0``).
        coupling: how the players' noises are tied. ``None`` (default): the
            one that keeps the game's structure, ``"identical"`` for a game
            with a potential reward (identical-interest and potential games),
            else the reward model's (:meth:`AbstractRewards.coupling`):
            ``"zero_sum"`` for a two-player zero-sum game, ``"independent"``
            otherwise (a game with traced dense rewards, under ``jit``, needs
            an explicit coupling). ``"independent"`` draws separate noise
            for every player (a general-sum family, whatever the game);
            ``"zero_sum"`` adds ``eps`` to player 0 and ``-eps`` to player 1
            (the family stays zero-sum); ``"identical"`` adds the same ``eps``
            to every player and to the potential reward (``r_i - phi`` is
            unchanged, so a potential game stays one).

    Raises:
        ValueError: a batch of games, a bad size or ``std``, an unknown
            coupling, ``"zero_sum"`` on a game without two players, or a game
            with a potential reward and a coupling other than ``"identical"``.
    """
    num_games = _family_size(game, "perturb_rewards", num_games, std)
    n = game.num_players
    entry = (game.num_states, *game.num_actions)
    if coupling is None:
        entry_ndim = game.rewards.ndim - 1
        coupling = (
            "identical"
            if game.potential_reward is not None
            else game.reward_model.coupling(entry_ndim)
        )
        if coupling is None:
            raise ValueError(
                "coupling is None and the game's rewards are traced (under jit) "
                "and stored densely, so their structure cannot be read; pass "
                "coupling='independent', 'zero_sum' or 'identical'"
            )
    if coupling == "independent":
        eps = jr.normal(key, (num_games, n, *entry), game.rewards.dtype)
    elif coupling in ("zero_sum", "identical"):
        if coupling == "zero_sum" and n != 2:
            raise ValueError(f"coupling is 'zero_sum' but the game has {n} players")
        e = jr.normal(key, (num_games, 1, *entry), game.rewards.dtype)
        sign = jnp.array([1.0, -1.0] if coupling == "zero_sum" else [1.0] * n, e.dtype)
        eps = e * sign.reshape((1, n) + (1,) * len(entry))
    else:
        raise ValueError(
            f"coupling is {coupling!r}; "
            "expected 'independent', 'zero_sum' or 'identical'"
        )
    # Broadcast over the time axis (if any): the noise is shared by all steps.
    time = game.rewards.ndim - 1 - len(entry)
    eps = (std * eps).reshape((num_games, n) + (1,) * time + entry)
    batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_games, *x.shape)), game)
    model = batch.reward_model.perturbed(eps, coupling)
    batch = eqx.tree_at(lambda g: g.reward_model, batch, model)
    if game.potential_reward is not None:
        if coupling != "identical":
            raise ValueError(
                "game has a potential reward; only coupling='identical' keeps it a "
                "potential game"
            )
        batch = eqx.tree_at(
            lambda g: g.potential_reward, batch, batch.potential_reward + eps[:, 0]
        )
    return batch


def perturb_transitions(
    key: PRNGKeyArray, game: AbstractMarkovGame, num_games: int, std: float
) -> AbstractMarkovGame:
    """A family with multiplicative log-normal noise on dense transition rows.

    ``P'(s'|s, a) ∝ P(s'|s, a) exp(std * z)``, ``z ~ N(0, 1)``: rows stay on the
    simplex and keep their support. A kernel that does not depend on the
    actions (concrete kernels are compared) gets one noise for all joint
    actions, so it stays action-independent: a potential game whose potential
    relies on that (:func:`random_potential`) stays a potential game. The
    rewards are unchanged, so zero-sum and identical-interest games keep their
    structure.

    Args:
        key: PRNG key.
        game: the base game (one game, not a batch).
        num_games: size of the family (an integer ``>= 1``).
        std: scale of the log-normal noise (finite, ``>= 0``).
    """
    num_games = _family_size(game, "perturb_transitions", num_games, std)
    probs = game.transitions.dense()
    shape = (num_games, *probs.shape)
    p = concrete(probs)
    n = game.num_players
    if p is not None and (p == p[(slice(None),) * 2 + (slice(0, 1),) * n]).all():
        shape = (num_games, *probs.shape[:2], *(1,) * n, probs.shape[-1])
    z = jr.normal(key, shape, probs.dtype)
    noisy = probs * jnp.exp(std * z)
    noisy = noisy / jnp.sum(noisy, axis=-1, keepdims=True)
    batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_games, *x.shape)), game)
    return eqx.tree_at(lambda g: g.transitions, batch, DenseTransitions(noisy))
