"""Aggre-VI: optimistic learning of an aggregative Markov game from episodes.

Algorithm 3 of Tang, Tang, Wu, "Provably Efficient Reinforcement Learning for
Large Aggregative Markov Games" (known rewards, unknown transitions), and its
reward-learning variant (Algorithm 4). Each episode ``k``:

1. for ``h = H-1 .. 0``, with ``L_h = gamma_r + gamma_P R (H - 1 - h)`` and the
   model estimated per ``(h, s, grid cell)``:

       Qbar(s, a, x) = min_{x'} [r(s, a, x') + P̂(s, x') . Vbar_{h+1} + b(x')
                                 + L_h ||x - x'||_inf + gamma_P H alpha]
       Qlow(s, a, x) = max_{x'} [r(s, a, x') + P̂(s, x') . Vlow_{h+1} - b(x')
                                 - L_h ||x - x'||_inf - gamma_P H alpha]

   with the bonus ``b = c sqrt(S H^2 iota / N)`` (infinite in unvisited cells),
   clipped to ``[(H - h) rmin, (H - h) rmax]``; the subroutine of
   :mod:`marlmeta.aggregative._planning` on ``Qbar`` gives ``pi^k_h``, and
   ``Vbar_h``, ``Vlow_h`` are ``Qbar``, ``Qlow`` at the realised aggregate;
2. ``pi_out`` is the episode's policy with the smallest width
   ``max_i initial . (Vbar_{0,i} - Vlow_{0,i})``;
3. one episode is rolled out with ``pi^k`` on the true kernel (an explicit
   key); the visited ``(h, s, nearest grid cell)`` counts and next-state counts
   are updated.

With ``learn_rewards`` (Algorithm 4, which the draft leaves unanalysed) the
rewards are estimated too, per ``(h, s, cell, i, a)`` from the played actions,
with bonus ``c sqrt(iota / N)`` and the pooling bias ``gamma_r alpha`` added.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from marlmeta.aggregative._game import AggregativeGame
from marlmeta.aggregative._grid import Grid, lipschitz_extension, make_grid
from marlmeta.aggregative._subroutine import (
    _utilities,
    select_and_round,
    solve_lps,
    zeta,
)
from marlmeta.solvers import AbstractSolver


class AggreVIInit(eqx.Module):
    """The argument of :meth:`AggreVI.init`: the grid and the episodes' key.

    Under ``jax.vmap`` one grid serves a whole batch of games (``in_axes=None``
    for it); :func:`marlmeta.solve_batch` indexes every leaf of a batched
    ``init``, so there the grid's leaves must carry the batch axis too
    (``jax.tree.map(lambda x: jnp.broadcast_to(x, (B, *x.shape)), grid)``).

    Attributes:
        grid: the aggregate grid (:func:`~marlmeta.aggregative.make_grid`).
        key: the PRNG key of the roll-outs.
    """

    grid: Grid
    key: PRNGKeyArray


class AggreVIDiagnostics(eqx.Module):
    """What :meth:`AggreVI.diagnostics` reports at a checkpoint.

    Attributes:
        profile: ``(H, S, n)`` the last episode's policy ``pi^k``.
        width: its width ``max_i initial . (Vbar_0 - Vlow_0)``.
        best_width: the width of the output policy.
        infeasible: ``(h, s)`` pairs without a feasible grid point in the last
            plan.
    """

    profile: Int[Array, "H S n"]
    width: Float[Array, ""]
    best_width: Float[Array, ""]
    infeasible: Int[Array, ""]


class AggreVIState(eqx.Module):
    """State of :class:`AggreVI` (a pytree).

    Attributes:
        counts: ``(H, S, G)`` visits per cell.
        next_counts: ``(H, S, G, S)`` observed transitions.
        reward_sums: ``(H, S, G, n, m)`` observed rewards (``learn_rewards``).
        reward_counts: ``(H, S, G, n, m)``.
        profile: ``(H, S, n)`` this episode's policy ``pi^k``.
        width: ``max_i initial . (Vbar_0 - Vlow_0)`` of ``pi^k``.
        best_profile: ``(H, S, n)`` the output policy so far.
        best_width: its width.
        infeasible: ``(h, s)`` pairs whose LPs had no feasible grid point in
            the last plan (the policy there falls back to the base actions).
        episode: episodes rolled out.
        key: the PRNG key for the next episode.
        grid: the aggregate grid.
    """

    counts: Int[Array, "H S G"]
    next_counts: Float[Array, "H S G S"]
    reward_sums: Float[Array, "H S G n m"]
    reward_counts: Float[Array, "H S G n m"]
    profile: Int[Array, "H S n"]
    width: Float[Array, ""]
    best_profile: Int[Array, "H S n"]
    best_width: Float[Array, ""]
    infeasible: Int[Array, ""]
    episode: Int[Array, ""]
    key: Array
    grid: Grid


class AggreVI(AbstractSolver):
    """Aggre-VI as an ``init`` / ``step`` / ``output`` solver.

    It implements the solver protocol of :func:`marlmeta.solve` (pure steps,
    the game an argument): ``solve(AggreVI(...), game, K, init=AggreVIInit(grid,
    key), metric=ne_gap)`` runs ``K`` episodes in one compiled call, and
    ``vmap`` runs a family of games (one grid, one key per game).

    Attributes:
        alpha: grid spacing of :meth:`default_init` (static); a given grid's
            spacing is the one used.
        num_episodes: ``K``, for ``iota = ln(S |X_alpha| H K / p)`` (static).
        bonus: the absolute constant ``c`` of the bonus.
        failure_probability: ``p`` in ``iota``.
        learn_rewards: Algorithm 4 (estimate rewards too) (static).
        max_lp_iterations: simplex pivot budget (static; default that of
            :func:`marlmeta.lp.grouped_linprog`).
    """

    alpha: float = eqx.field(static=True)
    num_episodes: int = eqx.field(static=True)
    bonus: float = 1.0
    failure_probability: float = 0.1
    learn_rewards: bool = eqx.field(static=True, default=False)
    max_lp_iterations: int | None = eqx.field(static=True, default=None)

    def default_init(self, game: AggregativeGame, num_steps: int) -> AggreVIInit:
        """The grid of :func:`~marlmeta.aggregative.make_grid` ``(game, alpha)``
        (host-level: needs a concrete game) and ``jax.random.key(0)``."""
        del num_steps
        return AggreVIInit(make_grid(game, self.alpha), jax.random.key(0))

    def init(self, game: AggregativeGame, init_policy: AggreVIInit) -> AggreVIState:
        """Empty counts on ``init_policy.grid``, the key ``init_policy.key``."""
        grid, key = init_policy.grid, init_policy.key
        num_steps, num_states = game.horizon, game.num_states
        n, m, size = game.num_players, game.num_actions, grid.size
        dtype = game.contributions.dtype
        zeros = jnp.zeros((num_steps, num_states, size, n, m), dtype)
        state = AggreVIState(
            counts=jnp.zeros((num_steps, num_states, size), jnp.int32),
            next_counts=jnp.zeros((num_steps, num_states, size, num_states), dtype),
            reward_sums=zeros,
            reward_counts=zeros,
            profile=jnp.zeros((num_steps, num_states, n), jnp.int32),
            width=jnp.asarray(jnp.inf, dtype),
            best_profile=jnp.zeros((num_steps, num_states, n), jnp.int32),
            best_width=jnp.asarray(jnp.inf, dtype),
            infeasible=jnp.int32(0),
            episode=jnp.int32(0),
            key=key,
            grid=grid,
        )
        return state

    def _iota(self, game, grid):
        s, h = game.num_states, game.horizon
        return math.log(
            s * grid.size * h * self.num_episodes / self.failure_probability
        )

    def plan(self, game: AggregativeGame, state: AggreVIState):
        """The optimistic plan of the current model.

        Returns:
            ``(profile (H, S, n), Vbar (S, n), Vlow (S, n), infeasible)`` with
            the values at step 0.
        """
        grid = state.grid
        points = grid.points()
        num_steps, num_states, n = game.horizon, game.num_states, game.num_players
        m = game.num_actions
        dtype = game.contributions.dtype
        iota = self._iota(game, grid)
        lips = game.lipschitz_steps()
        rmin, rmax = game.rewards.bounds(game.lo, game.hi)
        alpha = grid.alpha
        disc = game.gamma_p * num_steps * alpha
        if self.learn_rewards:
            disc = disc + game.gamma_r * alpha
        eta_base = zeta(game) + 2 * alpha + game.delta

        def step(carry, h):
            vbar_next, vlow_next = carry
            big_n = state.counts[h]
            p_hat = jnp.where(
                big_n[..., None] > 0,
                state.next_counts[h] / jnp.maximum(big_n, 1)[..., None],
                1.0 / num_states,
            )
            beta = jnp.where(
                big_n > 0,
                self.bonus
                * jnp.sqrt(num_states * num_steps**2 * iota / jnp.maximum(big_n, 1)),
                jnp.inf,
            )[..., None, None]
            if self.learn_rewards:
                rc = state.reward_counts[h]
                r_hat = state.reward_sums[h] / jnp.maximum(rc, 1)
                r_b = jnp.where(
                    rc > 0, self.bonus * jnp.sqrt(iota / jnp.maximum(rc, 1)), jnp.inf
                )
                r_bar, r_low = r_hat + r_b, r_hat - r_b
            else:
                r_bar = r_low = _utilities(
                    game, h, points, jnp.zeros((num_states, n), dtype)
                )
            cont_bar = jnp.einsum("sgt,ti->sgi", p_hat, vbar_next)[..., None]
            cont_low = jnp.einsum("sgt,ti->sgi", p_hat, vlow_next)[..., None]
            raw_bar = jnp.moveaxis(r_bar + cont_bar + beta + disc, 1, -1)
            raw_low = jnp.moveaxis(r_low + cont_low - beta - disc, 1, -1)
            togo = num_steps - h
            top, bottom = togo * rmax, togo * rmin
            q_bar = jnp.minimum(
                lipschitz_extension(raw_bar, points, lips[h], upper=True), top
            )
            q_bar = jnp.moveaxis(q_bar, -1, 1)  # (S, G, n, m)
            weights = jnp.zeros((num_states, n, m), dtype)
            status, p, value, _ = solve_lps(
                game.contributions[h],
                points,
                q_bar,
                weights,
                lips[h] * eta_base,
                alpha,
                self.max_lp_iterations,
                max(1, min(4096, num_states * grid.size)),
            )
            _, actions, score, _ = select_and_round(status, p, value)
            none = jnp.sum(~jnp.isfinite(score))

            def at_profile(s, a):
                x = game.aggregate(h, s, a)
                pen = lips[h] * jnp.max(jnp.abs(points - x), -1)  # (G,)
                own_bar = jnp.take_along_axis(raw_bar[s], a[:, None, None], 1)[:, 0]
                own_low = jnp.take_along_axis(raw_low[s], a[:, None, None], 1)[:, 0]
                vb = jnp.minimum(jnp.min(own_bar + pen, -1), top)
                vl = jnp.maximum(jnp.max(own_low - pen, -1), bottom)
                return vb, vl

            vb, vl = jax.vmap(at_profile)(jnp.arange(num_states), actions)
            return (vb, vl), (actions, none)

        zero = jnp.zeros((num_states, n), dtype)
        (vbar, vlow), (profile, none) = jax.lax.scan(
            step, (zero, zero), jnp.arange(num_steps), reverse=True
        )
        return profile, vbar, vlow, jnp.sum(none)

    def step(self, game: AggregativeGame, state: AggreVIState) -> AggreVIState:
        """Plan optimistically, keep the narrowest policy, roll out one episode."""
        profile, vbar, vlow, none = self.plan(game, state)
        width = jnp.max(game.initial @ (vbar - vlow))
        better = width < state.best_width
        key, sub = jax.random.split(state.key)
        cells, states, nexts, rewards = _rollout(game, state.grid, profile, sub)
        hh = jnp.arange(game.horizon)
        counts = state.counts.at[hh, states, cells].add(1)
        next_counts = state.next_counts.at[hh, states, cells, nexts].add(1.0)
        reward_sums, reward_counts = state.reward_sums, state.reward_counts
        if self.learn_rewards:
            acts = profile[hh, states]  # (H, n)
            ii = jnp.arange(game.num_players)
            idx = (hh[:, None], states[:, None], cells[:, None], ii[None], acts)
            reward_sums = reward_sums.at[idx].add(rewards)
            reward_counts = reward_counts.at[idx].add(1.0)
        return eqx.tree_at(
            lambda st: (
                st.counts,
                st.next_counts,
                st.reward_sums,
                st.reward_counts,
                st.profile,
                st.width,
                st.best_profile,
                st.best_width,
                st.infeasible,
                st.episode,
                st.key,
            ),
            state,
            (
                counts,
                next_counts,
                reward_sums,
                reward_counts,
                profile,
                width,
                jnp.where(better, profile, state.best_profile),
                jnp.where(better, width, state.best_width),
                none.astype(jnp.int32),
                state.episode + 1,
                key,
            ),
        )

    def output(self, game: AggregativeGame, state: AggreVIState) -> Int[Array, "H S n"]:
        """``pi_out``: the policy with the smallest width so far."""
        del game
        return state.best_profile

    def diagnostics(
        self, game: AggregativeGame, state: AggreVIState
    ) -> AggreVIDiagnostics:
        """The last episode's policy, its width and the output's width."""
        del game
        return AggreVIDiagnostics(
            profile=state.profile,
            width=state.width,
            best_width=state.best_width,
            infeasible=state.infeasible,
        )


def _rollout(game: AggregativeGame, grid: Grid, profile, key):
    """One episode on the true kernel: cells, states, next states, rewards."""
    keys = jax.random.split(key, game.horizon + 1)
    s0 = jax.random.categorical(keys[0], jnp.log(game.initial))
    players = jnp.arange(game.num_players)

    def body(s, inputs):
        h, k = inputs
        a = profile[h, s]
        x = game.aggregate(h, s, a)
        r = jax.vmap(game.rewards, (None, None, 0, 0, None))(h, s, players, a, x)
        nxt = jax.random.categorical(k, jnp.log(game.transitions(h, s, x)))
        return nxt, (grid.snap(x), s, nxt, r)

    _, (cells, states, nexts, rewards) = jax.lax.scan(
        body, s0, (jnp.arange(game.horizon), keys[1:])
    )
    return cells, states, nexts, rewards


def width_bound(game: AggregativeGame, alpha: float) -> Float[Array, ""]:
    """``sum_h eps_h`` with the theory slack (the NE-gap of ``pi^k`` is at most
    its width plus this, with high probability; Tang, Tang, Wu, proof of
    Theorem 5.1)."""
    d = game.dim
    head = zeta(game) + 4 * alpha + 2 * game.delta + 2 * d * game.delta
    return head * jnp.sum(game.lipschitz_steps())
