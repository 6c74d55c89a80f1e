"""Generators of aggregative Markov games: random, congestion, Cournot, distancing.

All are valid by construction (no validation pass over the arrays) and built
in JAX, so a batch is one ``vmap`` over keys. Their arguments are checked: sizes
are positive integers (not ``bool``, floats or strings) and scalars finite real
numbers; a ``ValueError`` names the argument and the value.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from marlmeta._checks import check_finite, count, real_array, real_scalar
from marlmeta.aggregative._game import AggregativeGame
from marlmeta.aggregative._models import (
    AffineRewards,
    CongestionRewards,
    SoftmaxTransitions,
    ThresholdTransitions,
)


def _sizes(**sizes) -> None:
    for name, v in sizes.items():
        count(name, v)


def _reals(**scalars) -> None:
    for name, v in scalars.items():
        real_scalar(name, v)


def _vector(name: str, x):
    """A finite real 1-D array (a ``ValueError`` naming the bad index)."""
    a = real_array(name, x)
    if a.ndim != 1 or a.shape[0] == 0:
        raise ValueError(f"{name} has shape {a.shape}; expected a non-empty vector")
    check_finite(name, np.asarray(a))
    return a


def _spread(contributions):
    c = contributions
    return jnp.max(jnp.abs(c[..., :, None, :] - c[..., None, :, :]))


def _game(contributions, rewards, transitions, initial) -> AggregativeGame:
    return AggregativeGame(
        contributions=contributions,
        rewards=rewards,
        transitions=transitions,
        initial=initial,
        delta=_spread(contributions),
    )


def _normalised(base, slope, lo, hi) -> AffineRewards:
    """Affine rewards rescaled so that they span exactly ``[0, 1]`` on the box."""
    rmin, rmax = AffineRewards(base, slope).bounds(lo, hi)
    span = rmax - rmin
    return AffineRewards((base - rmin) / span, slope / span)


def _random_one(
    key, horizon, num_states, n, m, dim, slope_scale, coupling_scale, dtype
):
    shape = (horizon, num_states, n, m)
    sizes = [
        math.prod(shape) * dim,
        math.prod(shape),
        math.prod(shape) * dim,
        horizon * num_states**2,
        horizon * num_states**2 * dim,
    ]
    # One draw of uniforms (a single threefry program compiles much faster than
    # five); normals by the inverse CDF.
    u = jax.random.uniform(key, (sum(sizes),), dtype, minval=1e-12, maxval=1 - 1e-12)
    parts = jnp.split(u, np.cumsum(sizes)[:-1])
    c = parts[0].reshape(*shape, dim) / n
    base = parts[1].reshape(shape)
    slope = slope_scale * ndtri(parts[2]).reshape(*shape, dim)
    logits = ndtri(parts[3]).reshape(horizon, num_states, num_states)
    coupling = coupling_scale * ndtri(parts[4]).reshape(
        horizon, num_states, num_states, dim
    )
    lo = jnp.sum(jnp.min(c, 3), 2)
    hi = jnp.sum(jnp.max(c, 3), 2)
    init = jnp.full((num_states,), 1.0 / num_states, dtype)
    return _game(
        c, _normalised(base, slope, lo, hi), SoftmaxTransitions(logits, coupling), init
    )


def random_aggregative(
    key,
    num_games: int | None = None,
    *,
    horizon: int = 3,
    num_states: int = 2,
    num_players: int = 4,
    num_actions: int = 2,
    dim: int = 1,
    slope_scale: float = 1.0,
    coupling_scale: float = 1.0,
    dtype=None,
) -> AggregativeGame:
    """Random aggregative games with rewards spanning exactly ``[0, 1]``.

    Contributions are uniform on ``[0, 1/n]`` (so ``delta <= 1/n``), rewards
    affine in ``x`` (``base`` uniform, ``slope`` normal with scale
    ``slope_scale``), then rescaled to span ``[0, 1]`` over the box of
    aggregates; transitions ``softmax(logits + coupling @ x)`` with standard
    normal logits and coupling of scale ``coupling_scale``; uniform initial
    state. Pure: the caller owns ``jit`` (every argument but ``key`` is
    static, so ``eqx.filter_jit`` of this function draws in one compiled
    program).

    Args:
        key: a JAX PRNG key.
        num_games: ``None`` for one game, else a batch along a leading axis.
    """
    _sizes(
        horizon=horizon,
        num_states=num_states,
        num_players=num_players,
        num_actions=num_actions,
        dim=dim,
    )
    _reals(slope_scale=slope_scale, coupling_scale=coupling_scale)
    if num_games is not None:
        num_games = count("num_games", num_games)
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    static = (horizon, num_states, num_players, num_actions, dim)

    def one(k):
        return _random_one(k, *static, slope_scale, coupling_scale, dtype)

    if num_games is None:
        return one(key)
    return jax.vmap(one)(jax.random.split(key, num_games))


def _facility_contributions(horizon, num_states, num_players, num_facilities, dtype):
    """``e_a / n``: ``x[k]`` is the share of players on facility ``k``."""
    eye = jnp.eye(num_facilities, dtype=dtype) / num_players
    return jnp.broadcast_to(
        eye, (horizon, num_states, num_players, num_facilities, num_facilities)
    )


def _static_transitions(horizon, num_states, dim, dtype):
    return SoftmaxTransitions(
        jnp.zeros((horizon, num_states, num_states), dtype),
        jnp.zeros((horizon, num_states, num_states, dim), dtype),
    )


def singleton_congestion(
    theta, cost, num_players: int, *, horizon: int = 1
) -> AggregativeGame:
    """A singleton congestion game: each player picks one facility.

    Player ``i`` on facility ``a`` earns ``theta[a] - cost[a] x[a]`` with
    ``x[a]`` the share of players on ``a`` (one state, ``d = m``, repeated
    over ``horizon`` steps). It is an exact potential game (Rosenthal 1973,
    "A class of games possessing pure-strategy Nash equilibria") with
    potential ``sum_a sum_{k=1}^{load_a} (theta[a] - cost[a] k / n)``; its
    maximisers (the minimisers of Rosenthal's potential of the costs) are pure
    Nash equilibria.

    Args:
        theta: ``(m,)`` facility values.
        cost: ``(m,)`` congestion costs (``>= 0`` for congestion).
        num_players: ``n``.
    """
    _sizes(num_players=num_players, horizon=horizon)
    theta = _vector("theta", theta).astype(jnp.result_type(float))
    cost = _vector("cost", cost).astype(theta.dtype)
    if cost.shape != theta.shape:
        raise ValueError(
            f"cost has shape {cost.shape}; expected {theta.shape} (one per facility)"
        )
    m = theta.shape[0]
    shape = (horizon, 1, num_players, m)
    rewards = CongestionRewards(
        jnp.broadcast_to(theta, shape), jnp.broadcast_to(cost, shape)
    )
    return _game(
        _facility_contributions(horizon, 1, num_players, m, theta.dtype),
        rewards,
        _static_transitions(horizon, 1, m, theta.dtype),
        jnp.ones((1,), theta.dtype),
    )


def rosenthal_potential(theta, cost, loads, num_players: int):
    """``sum_a sum_{k=1}^{loads[a]} (theta[a] - cost[a] k / n)`` (NumPy)."""
    theta, cost, loads = (np.asarray(v, float) for v in (theta, cost, loads))
    tri = loads * (loads + 1) / 2
    return float(np.sum(theta * loads - cost * tri / num_players))


def cournot(
    num_players: int,
    *,
    num_levels: int = 3,
    horizon: int = 3,
    intercepts=(1.0, 0.6),
    marginal_cost: float = 0.1,
    demand_coupling: float = 2.0,
) -> AggregativeGame:
    """A Markov Cournot market with a demand state.

    Player ``i`` produces ``q in {0, 1/(L-1), .., 1}`` (``L = num_levels``);
    ``x = (1/n) sum_i q_i`` is the average output (``d = 1``) and the profit in
    demand state ``s`` is ``q (A_s - c - x)``. High output today depresses
    tomorrow's demand: ``P(. | s, x) = softmax(logits[s] + kappa x (0, .., 1))``
    with ``logits[s]`` favouring staying in ``s`` and ``kappa =
    demand_coupling`` pushing towards the last (low-demand) state.

    The one-shot game with fixed demand ``A`` has the symmetric continuous
    equilibrium ``q* = (A - c) / (1 + 1/n)``.
    """
    _sizes(num_players=num_players, num_levels=num_levels, horizon=horizon)
    _reals(marginal_cost=marginal_cost, demand_coupling=demand_coupling)
    dtype = jnp.result_type(float)
    a = _vector("intercepts", intercepts).astype(dtype)
    num_states = a.shape[0]
    q = jnp.linspace(0.0, 1.0, num_levels, dtype=dtype)
    shape = (horizon, num_states, num_players, num_levels)
    base = jnp.broadcast_to((a - marginal_cost)[:, None, None] * q, shape)
    slope = jnp.broadcast_to(-q[:, None], (*shape, 1))
    contrib = jnp.broadcast_to(q[:, None] / num_players, (*shape, 1))
    logits = jnp.broadcast_to(
        2.0 * jnp.eye(num_states, dtype=dtype), shape[:2] + (num_states,)
    )
    push = jnp.zeros((num_states,), dtype).at[-1].set(demand_coupling)
    coupling = jnp.broadcast_to(push[:, None], (*shape[:2], num_states, 1))
    return _game(
        contrib,
        AffineRewards(base, slope),
        SoftmaxTransitions(logits, coupling),
        jnp.zeros((num_states,), dtype).at[0].set(1.0),
    )


#: Facility weights of the distancing game of Leonardos et al. (ICLR 2022).
DISTANCING_WEIGHTS = (1.0, 2.0, 4.0, 6.0)


def distancing(
    *,
    num_players: int = 8,
    horizon: int = 4,
    weights=DISTANCING_WEIGHTS,
    penalty: float = 100.0,
    sharpness: float = 64.0,
) -> AggregativeGame:
    """The distancing game of Leonardos, Overman, Panageas, Piliouras, "Global
    Convergence of Multi-Agent Policy Gradient in Markov Potential Games"
    (ICLR 2022), finite horizon, thresholds smoothed by a sigmoid.

    ``N`` players choose one of 4 facilities with weights ``(1, 2, 4, 6)``; in
    state 0 (safe) a player on facility ``a`` earns ``w_a load_a``, in state 1
    (distancing) ``w_a load_a - penalty``. The game moves from safe to
    distancing when more than ``N / 2`` players share a facility, and stays in
    distancing while more than ``N / 4`` do. Here ``x = load / N`` (``d = 4``,
    ``delta = 1 / N``), the thresholds sit half a player above ``N / 2`` and
    ``N / 4`` and are smoothed as ``sigmoid(sharpness (max_k x_k - t))``
    (:class:`ThresholdTransitions`), and rewards are rescaled affinely to
    ``[0, 1]`` (which keeps every equilibrium): ``(r + penalty) /
    (penalty + N max w)``. Starts in the safe state.
    """
    _sizes(num_players=num_players, horizon=horizon)
    _reals(penalty=penalty, sharpness=sharpness)
    dtype = jnp.result_type(float)
    w = _vector("weights", weights).astype(dtype)
    m, n = w.shape[0], num_players
    scale = penalty + n * float(np.max(np.asarray(weights)))
    shape = (horizon, 2, n, m)
    bonus = jnp.asarray([penalty, 0.0], dtype) / scale
    theta = jnp.broadcast_to(bonus[None, :, None, None], shape)
    cost = jnp.broadcast_to(-w * n / scale, shape)
    eye = jnp.eye(2, dtype=dtype)
    low = jnp.broadcast_to(eye[0], (horizon, 2, 2))
    high = jnp.broadcast_to(eye[1], (horizon, 2, 2))
    threshold = jnp.broadcast_to(
        jnp.asarray([(n / 2 + 0.5) / n, (n / 4 + 0.5) / n], dtype), (horizon, 2)
    )
    return _game(
        _facility_contributions(horizon, 2, n, m, dtype),
        CongestionRewards(theta, cost),
        ThresholdTransitions(low, high, threshold, jnp.asarray(sharpness, dtype)),
        eye[0],
    )
