"""Exact metrics of pure Markov profiles, and the dense equivalent for tiny ``n``.

A pure Markov profile ``a[h, s, i]`` fixes the aggregate
``x = x_h(s, a[h, s])`` in every ``(h, s)``; a unilateral deviation ``a'`` of
player ``i`` sees ``x - contributions[h, s, i, a_i] + contributions[h, s, i, a']``,
a deterministic off-grid aggregate. Backward induction then gives the values
and best-response values of every player,

    V_{h,i}(s) = r_{h,i}(s, a_i, x) + P_h(s, x) . V_{h+1,i}
    B_{h,i}(s) = max_{a'} r_{h,i}(s, a', x_{i,a'}) + P_h(s, x_{i,a'}) . B_{h+1,i},

in ``O(H S n m (d + S))`` without enumerating joint actions (Tang, Tang, Wu,
"Provably Efficient Reinforcement Learning for Large Aggregative Markov Games").
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta._checks import check_index_range, concrete, fmt_value, unravel
from marlmeta.aggregative._game import AggregativeGame
from marlmeta.games import FiniteHorizonGame, markov_game


def validate_profile(game: AggregativeGame, profile, name: str = "profile") -> Array:
    """``profile`` as an ``int32`` array ``(H, S, n)``, checked.

    Raises:
        ValueError: for a wrong shape, a non-integer entry or an action index
            outside ``[0, m)``, naming the index and the value.
    """
    p = jnp.asarray(profile)
    shape = (game.horizon, game.num_states, game.num_players)
    if p.shape != shape:
        raise ValueError(f"{name} has shape {p.shape}; expected (H, S, n) = {shape}")
    c = concrete(p)
    if c is not None:
        if c.dtype.kind not in "iub":
            bad = c != np.round(c)
            if bad.any() or not np.isfinite(c).all():
                bad = bad | ~np.isfinite(c)
                idx = unravel(int(np.argmax(bad)), c.shape)
                raise ValueError(
                    f"{name}{list(idx)} is {fmt_value(c[idx])}; "
                    "expected an action index"
                )
        check_index_range(name, c, game.num_actions, "an action")
    return p.astype(jnp.int32)


def deviations(game: AggregativeGame, h, s, actions: Int[Array, " n"]):
    """Aggregate of the joint action and of every unilateral deviation.

    Returns:
        ``(x, x_dev)``: ``(d,)`` and ``(n, m, d)`` with
        ``x_dev[i, a] = x - contributions[h, s, i, actions[i]] +
        contributions[h, s, i, a]``.
    """
    c = game.contributions[h, s]
    own = jnp.take_along_axis(c, actions[:, None, None], 1)
    x = jnp.sum(own[:, 0], 0)
    return x, x - own + c


def stage_values(game: AggregativeGame, h, s, x_dev, v_next: Float[Array, "S n"]):
    """``r_i(a, x_dev[i, a]) + P(s, x_dev[i, a]) . v_next[:, i]``, ``(n, m)``."""
    n, m = x_dev.shape[:2]
    ii, aa = jnp.meshgrid(jnp.arange(n), jnp.arange(m), indexing="ij")
    r = jax.vmap(jax.vmap(game.rewards, (None, None, 0, 0, 0)), (None, None, 0, 0, 0))(
        h, s, ii, aa, x_dev
    )
    p = jax.vmap(jax.vmap(game.transitions, (None, None, 0)), (None, None, 0))(
        h, s, x_dev
    )
    return r + jnp.einsum("ias,si->ia", p, v_next)


def profile_values(game: AggregativeGame, profile):
    """Values and best-response values of a pure profile at every step.

    Returns:
        ``(V, B)``, each ``(H + 1, S, n)`` (the last step is zero).
    """
    profile = validate_profile(game, profile)
    num_states, n = game.num_states, game.num_players
    dtype = game.contributions.dtype

    def step(carry, h):
        v_next, b_next = carry

        def state(s):
            x, x_dev = deviations(game, h, s, profile[h, s])
            own = jnp.take_along_axis(
                stage_values(game, h, s, x_dev, v_next), profile[h, s][:, None], 1
            )[:, 0]
            best = jnp.max(stage_values(game, h, s, x_dev, b_next), axis=1)
            return own, best

        v, b = jax.vmap(state)(jnp.arange(num_states))
        return (v, b), (v, b)

    zero = jnp.zeros((num_states, n), dtype)
    _, (v, b) = jax.lax.scan(step, (zero, zero), jnp.arange(game.horizon), reverse=True)
    return jnp.concatenate([v, zero[None]]), jnp.concatenate([b, zero[None]])


def gains(game: AggregativeGame, profile) -> Float[Array, " n"]:
    """``gain_i = initial @ (B_{0,i} - V_{0,i})`` of a pure Markov profile.

    Args:
        game: an :class:`AggregativeGame`.
        profile: ``(H, S, n)`` action indices.
    """
    v, b = profile_values(game, profile)
    return game.initial @ (b[0] - v[0])


def ne_gap(game: AggregativeGame, profile) -> Float[Array, ""]:
    """``max_i gain_i``: the NE-gap of a pure Markov profile."""
    return jnp.max(gains(game, profile))


def state_distribution(game: AggregativeGame, profile) -> Float[Array, "H S"]:
    """``mu_h(s)``: the state law at each step under a pure profile."""
    profile = validate_profile(game, profile)

    def step(mu, h):
        def row(s):
            x = game.aggregate(h, s, profile[h, s])
            return game.transitions(h, s, x)

        p = jax.vmap(row)(jnp.arange(game.num_states))
        return mu @ p, mu

    _, mus = jax.lax.scan(step, game.initial, jnp.arange(game.horizon))
    return mus


def welfare(game: AggregativeGame, profile, weights) -> Float[Array, ""]:
    """Linear welfare ``E[sum_h sum_i weights[h, s_h, i, a_i]]`` from ``initial``.

    Args:
        game: an :class:`AggregativeGame`.
        profile: ``(H, S, n)`` action indices.
        weights: ``(H, S, n, m)`` per-player action weights (the linear welfare
            of Tang, Tang, Wu, section 6).
    """
    w = welfare_weights(game, weights)
    profile = validate_profile(game, profile)
    picked = jnp.take_along_axis(w, profile[..., None], -1)[..., 0].sum(-1)
    return jnp.sum(state_distribution(game, profile) * picked)


def welfare_weights(game: AggregativeGame, weights) -> Array:
    """``weights`` as an array of the game's dtype, checked: shape ``(H, S, n,
    m)`` (one welfare weight per step, state, player and action) and finite."""
    w = jnp.asarray(weights, game.contributions.dtype)
    shape = (game.horizon, game.num_states, game.num_players, game.num_actions)
    if w.shape != shape:
        raise ValueError(f"welfare weights have shape {w.shape}; expected {shape}")
    c = concrete(w)
    if c is not None and not np.isfinite(c).all():
        idx = unravel(int(np.argmax(~np.isfinite(c))), c.shape)
        raise ValueError(f"welfare{list(idx)} is {fmt_value(c[idx])}; expected finite")
    return w


def _dense_tables(game: AggregativeGame, joint: Int[Array, "J n"]):
    """Rewards ``(n, H, S, *A)`` and transitions ``(H, S, *A, S)`` of every
    joint action."""
    n, m = game.num_players, game.num_actions
    players = jnp.arange(n)

    def cell(h, s):
        def one(a):
            x = game.aggregate(h, s, a)
            r = jax.vmap(game.rewards, (None, None, 0, 0, None))(h, s, players, a, x)
            return r, game.transitions(h, s, x)

        return jax.vmap(one)(joint)

    hh = jnp.arange(game.horizon)
    ss = jnp.arange(game.num_states)
    r, p = jax.vmap(lambda h: jax.vmap(lambda s: cell(h, s))(ss))(hh)
    num_steps, num_states = game.horizon, game.num_states
    rewards = jnp.moveaxis(r, -1, 0).reshape(n, num_steps, num_states, *([m] * n))
    return rewards, p.reshape(num_steps, num_states, *([m] * n), num_states)


#: Largest joint-action count :func:`to_markov_game` builds.
MAX_JOINT = 1 << 16


def to_markov_game(game: AggregativeGame) -> FiniteHorizonGame:
    """The dense :class:`~marlmeta.games.FiniteHorizonGame` of a tiny game.

    Enumerates the ``m^n`` joint actions (at most ``2^16``), for cross-checks
    against :mod:`marlmeta.evaluation`.
    """
    n, m = game.num_players, game.num_actions
    if m**n > MAX_JOINT:
        raise ValueError(
            f"to_markov_game enumerates m^n = {m}^{n} joint actions; "
            f"at most {MAX_JOINT} are allowed"
        )
    joint = jnp.asarray(list(itertools.product(range(m), repeat=n)), jnp.int32)
    rewards, trans = _dense_tables(game, joint)
    return markov_game(rewards, trans, game.initial)


def product_policy(game: AggregativeGame, profile) -> tuple[Array, ...]:
    """A pure profile as a one-hot product policy: one ``(H, S, m)`` per player."""
    profile = validate_profile(game, profile)
    onehot = jax.nn.one_hot(profile, game.num_actions, dtype=game.contributions.dtype)
    return tuple(onehot[:, :, i] for i in range(game.num_players))
