"""The discrete linear-quadratic tracking game and its drift-perturbed family.

Mao, Qiu, Zhang, Başar, "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity" (NeurIPS 2023), appendix F.3: ``N``
players on the positions ``{-m..m}`` (``m = (num_positions - 1) / 2``), actions
``{-1, 0, 1}``. Player ``i`` moves on its own,

    s_i' = round(clip(s_i + drift_i * a_i * dt + sigma * eps * sqrt(dt), -m, m)),

with ``eps in {-2..2}`` drawn with probability ``∝ exp(-eps^2 / 2)`` and ties of
the rounding broken to the even integer; so the kernel is a product of local
kernels (:class:`~marlmeta.games.FactoredTransitions`) and the dense
``S x prod(A) x S`` kernel is never formed. Each player pays for its action and
for its distance to the mean position ``mu``:

    r_i(s, a) = (-a_i^2 / 2 - kappa / 2 * (mu - s_i)^2) * dt.

No terminal cost, uniform initial state. The global state is the row-major
index of ``(s_0, .., s_{N-1})``, position ``-m`` being local index 0; action
index 0 is ``-1``.

Potential structure: with ``phi(s, a) = (-sum_j a_j^2 / 2 - kappa / 2 *
(N - 1) / N * sum_j (s_j - mu)^2) * dt`` (:func:`lq_tracking_potential`),
``r_i - phi`` depends on ``(s_{-i}, a_{-i})`` only. Since every player moves its
own position, ``phi`` is an exact potential for policies in which each player
looks at its own position only; for policies of the global state it is only
approximate (the others' actions then depend on ``s_i``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from marlmeta._checks import count, real_scalar
from marlmeta.games._game import FiniteHorizonGame
from marlmeta.games._rewards import StationaryRewards
from marlmeta.games._transitions import FactoredTransitions

#: The noise values ``eps`` of the local moves.
NOISE = (-2, -1, 0, 1, 2)
#: The actions ``{-1, 0, 1}``, in index order.
ACTIONS = (-1, 0, 1)


def _checked(
    num_players, num_positions, horizon, drift, sigma, kappa, dt, dtype, **numbers
):
    """Validate the sizes and the scalar parameters (``numbers``: further
    finite numbers by name, e.g. the family's ``std``): ``(drifts, dtype)``,
    the drifts one per player."""
    count("num_players", num_players)
    count("horizon", horizon)
    if count("num_positions", num_positions) % 2 == 0:
        raise ValueError(
            f"num_positions is {num_positions}; expected an odd positive int "
            "(positions -m..m)"
        )
    for name, v in {"sigma": sigma, "kappa": kappa, **numbers}.items():
        real_scalar(name, v)
    real_scalar("dt", dt)
    if not float(dt) > 0:
        raise ValueError(f"dt is {dt!r}; expected a number > 0")
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    return _drifts(drift, num_players, dtype), dtype


def lq_local_kernel(
    drift, num_positions: int = 5, sigma=1.0, dt=1.0, dtype=None
) -> Float[Array, "Si Ai Si"]:
    """One player's kernel ``P_i(s_i' | s_i, a_i)``, shape ``(S_i, 3, S_i)``.

    Traceable in ``drift``, ``sigma`` and ``dt`` (the family perturbs ``drift``
    inside ``jit``/``vmap``).
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    m = (num_positions - 1) // 2
    x = jnp.arange(num_positions, dtype=dtype) - m
    a = jnp.asarray(ACTIONS, dtype)
    eps = jnp.asarray(NOISE, dtype)
    w = jnp.exp(-(eps**2) / 2)
    w = w / jnp.sum(w)
    dt = jnp.asarray(dt, dtype)
    y = (
        x[:, None, None]
        + jnp.asarray(drift, dtype) * a[None, :, None] * dt
        + jnp.asarray(sigma, dtype) * eps[None, None, :] * jnp.sqrt(dt)
    )
    nxt = (jnp.round(jnp.clip(y, -m, m)) + m).astype(jnp.int32)  # (S_i, A_i, E)
    one_hot = jax.nn.one_hot(nxt, num_positions, dtype=dtype)
    return jnp.einsum("e,saet->sat", w, one_hot)


def _positions(num_players: int, num_positions: int, dtype) -> Array:
    """``(S, N)``: every global state's positions, row-major."""
    m = (num_positions - 1) // 2
    grid = jnp.indices((num_positions,) * num_players).reshape(num_players, -1)
    return (grid.T - m).astype(dtype)


def _action_cost(num_players: int, dtype) -> Array:
    """``(N, 3, .., 3)``: ``a_i^2 / 2`` of player ``i`` at every joint action."""
    a2 = jnp.asarray(ACTIONS, dtype) ** 2 / 2
    out = []
    for i in range(num_players):
        shape = [1] * num_players
        shape[i] = len(ACTIONS)
        out.append(jnp.broadcast_to(a2.reshape(shape), (len(ACTIONS),) * num_players))
    return jnp.stack(out)


def lq_tracking_rewards(
    num_players: int = 4, num_positions: int = 5, kappa=0.5, dt=1.0, dtype=None
) -> Float[Array, "N S *A"]:
    """``r_i(s, a) = (-a_i^2 / 2 - kappa / 2 (mu - s_i)^2) dt``, ``(N, S, *A)``."""
    dtype = jnp.result_type(float) if dtype is None else dtype
    x = _positions(num_players, num_positions, dtype)  # (S, N)
    track = (x.mean(axis=1, keepdims=True) - x) ** 2  # (S, N)
    cost = _action_cost(num_players, dtype)  # (N, *A)
    n_a = (1,) * num_players
    r = -cost[:, None] - (kappa / 2) * track.T.reshape(track.T.shape + n_a)
    return (r * dt).astype(dtype)


def lq_tracking_potential(
    num_players: int = 4,
    num_positions: int = 5,
    horizon: int = 10,
    kappa=0.5,
    dt=1.0,
    dtype=None,
) -> Float[Array, "H S *A"]:
    """``phi(s, a) = (-sum_j a_j^2 / 2 - kappa/2 (N-1)/N sum_j (s_j - mu)^2) dt``.

    An exact potential over policies that look at the own position only, an
    approximate one over policies of the global state (module docstring).
    Shape ``(H, S, *A)``.
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    x = _positions(num_players, num_positions, dtype)
    spread = jnp.sum((x - x.mean(axis=1, keepdims=True)) ** 2, axis=1)  # (S,)
    cost = jnp.sum(_action_cost(num_players, dtype), axis=0)  # (*A)
    c = (num_players - 1) / num_players
    phi = -cost[None] - (kappa / 2) * c * spread.reshape((-1,) + (1,) * num_players)
    return jnp.broadcast_to(phi * dt, (horizon, *phi.shape)).astype(dtype)


def _game(drifts, num_players, num_positions, horizon, sigma, kappa, dt, dtype):
    """The game for per-player ``drifts`` ``(N,)`` (traceable in them)."""
    local = tuple(
        lq_local_kernel(drifts[i], num_positions, sigma, dt, dtype)[None]
        for i in range(num_players)
    )
    num_states = num_positions**num_players
    return FiniteHorizonGame(
        reward_model=StationaryRewards(
            lq_tracking_rewards(num_players, num_positions, kappa, dt, dtype), horizon
        ),
        transitions=FactoredTransitions(local),
        initial=jnp.full((num_states,), 1.0 / num_states, dtype),
        potential_reward=None,
        num_actions=(len(ACTIONS),) * num_players,
        horizon=horizon,
    )


def _drifts(drift, num_players: int, dtype) -> Array:
    d = jnp.asarray(drift, dtype)
    if d.ndim == 0:
        return jnp.full((num_players,), d)
    if d.shape != (num_players,):
        raise ValueError(
            f"drift has shape {d.shape}; expected one number or one per player "
            f"({num_players},)"
        )
    return d


def lq_tracking(
    num_players: int = 4,
    num_positions: int = 5,
    horizon: int = 10,
    drift=1.0,
    sigma: float = 1.0,
    kappa: float = 0.5,
    dt: float = 1.0,
    dtype=None,
) -> FiniteHorizonGame:
    """Mao et al.'s 1D linear-quadratic tracking game (appendix F.3).

    Defaults: 4 players, 5 positions (625 states), 81 joint actions, ``H = 10``.

    Args:
        num_players: ``N``.
        num_positions: odd number of positions ``{-m..m}``.
        horizon: ``H``.
        drift: one number or one per player, ``(N,)``.
        sigma: noise scale.
        kappa: weight of the tracking cost.
        dt: time step.
        dtype: floating dtype of the arrays (default: JAX's default float).

    Returns:
        A :class:`FiniteHorizonGame` with factored, time-homogeneous transitions
        and stationary rewards (stored once for all steps).
    """
    drifts, dtype = _checked(
        num_players, num_positions, horizon, drift, sigma, kappa, dt, dtype
    )
    return _game(drifts, num_players, num_positions, horizon, sigma, kappa, dt, dtype)


def lq_tracking_family(
    key: PRNGKeyArray,
    num_games: int,
    std: float = 0.5,
    *,
    num_players: int = 4,
    num_positions: int = 5,
    horizon: int = 10,
    drift=1.0,
    sigma: float = 1.0,
    kappa: float = 0.5,
    dt: float = 1.0,
    dtype=None,
) -> FiniteHorizonGame:
    """``num_games`` tracking games whose drifts get ``N(0, std^2)`` noise.

    Each game draws one ``drift_i + std * z_i`` per player (Mao et al. F.3:
    "perturbations to the local state transition drift magnitudes"); only the
    transitions change. Traceable in ``key`` (use it inside ``jit``/``vmap``).

    Returns:
        A batch of games with a leading axis ``num_games`` on every leaf.
    """
    base, dtype = _checked(
        num_players, num_positions, horizon, drift, sigma, kappa, dt, dtype, std=std
    )
    real_scalar("std", std, 0.0)
    num_games = count("num_games", num_games)
    drifts = base + std * jr.normal(key, (num_games, num_players), dtype)
    make = lambda d: _game(  # noqa: E731
        d, num_players, num_positions, horizon, sigma, kappa, dt, dtype
    )
    return jax.vmap(make)(drifts)
