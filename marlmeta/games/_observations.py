"""Games with per-player observations (a game kind), and the perfect-recall check.

An :class:`ObservedGame` is a finite-horizon game on states together with what
each player sees: player ``i`` sees ``obs[i][h, s]`` in ``[0, O_i)`` instead
of the state ``s``.
Exact best responses over observation policies need **perfect recall**: on the
support reachable from ``initial``, for every ``(h, s)``, joint action ``a`` and
successor ``s'`` with ``P_h(s'|s, a) > 0``, the observation ``obs[i][h+1, s']``
determines ``(obs[i][h, s], a_i)``. Two relaxations keep turn-based games
legal: an action that is a **dummy** at ``(h, s)`` (neither the rewards nor the
transitions depend on it: the player does not act there) is not recalled, and
successors from which the player never acts again (e.g. an absorbing terminal
state) are not checked; illegal actions (the game's legal masks) are never
played, so they are not checked either. States a player observes alike must
have the same legal actions (a state where all are legal, a dummy move,
excepted).
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta._checks import check_index_range, concrete
from marlmeta.games._backward_induction import stage_q
from marlmeta.games._game import AbstractFiniteHorizonGame, FiniteHorizonGame
from marlmeta.games._legal import AbstractLegalActions
from marlmeta.games._rewards import AbstractRewards
from marlmeta.games._transitions import AbstractTransitions
from marlmeta.games._type_induction import _sum_axis
from marlmeta.policies import AbstractPolicy, ObservationPolicy, ProductPolicy, pool


class AbstractObservedGame(AbstractFiniteHorizonGame):
    """A finite-horizon game whose players see observations, not the state.

    Policies are observation policies (one table ``(H, O_i, A_i)`` per player,
    :meth:`observation_policy`), evaluated by backward induction on states
    after lifting, with best responses over observation policies. A kind
    implements :meth:`observation_policy`, :meth:`pool` and :attr:`observations`
    (and has the fields of :class:`~marlmeta.games.FiniteHorizonGame`, legal
    actions included, plus ``num_observations``). Algorithm 1 on observations is
    :class:`marlmeta.solvers.ObservedZeroSumOMD`.
    """

    @abc.abstractmethod
    def observation_policy(self, tables) -> AbstractPolicy:
        """The policy whose player ``i`` plays ``tables[i][h, o, :]`` on its
        observation ``o`` (tables ``(H, O_i, A_i)``)."""

    @abc.abstractmethod
    def pool(self, i: int, x: Float[Array, "H S A"]) -> Float[Array, "H O A"]:
        """``sum_{s: obs_i[h, s] = o} x[h, s, :]``: player ``i``'s per-state rows
        summed per observation (the transpose of lifting its table)."""

    def states(self) -> FiniteHorizonGame:
        """The game on states (every player sees the state), checked."""
        return FiniteHorizonGame(
            self.reward_model,
            self.transitions,
            self.initial,
            self.potential_reward,
            self.num_actions,
            self.horizon,
            legal=self.legal,
        )

    def require_observations(self, caller: str) -> None:
        del caller

    def require_state_policies(self, caller: str) -> None:
        raise ValueError(
            f"{caller} needs a game whose policies live on states; game is an "
            f"{type(self).__name__} (observation maps): use its observation "
            "solvers, e.g. marlmeta.solvers.ObservedZeroSumOMD"
        )

    def policy_masks(self):
        return self.legal.per_observation(
            self.lead_shape, self.num_actions, self.observations, self.num_observations
        )

    @property
    def observation_counts(self):
        return self.num_observations

    def player_observations(self, h, state):
        return jnp.stack([o[h, state] for o in self.observations])

    # Algorithm 1 on observations and counterfactual values
    # (marlmeta.solvers.ObservedZeroSumOMD, CounterfactualOMD): here on the
    # states; a kind with more structure contracts it instead.

    def zero_stage(self, dtype) -> tuple[Any, Array]:
        """Algorithm 1's stage ``Q = 0`` ``(H, S, A, B)`` and zero stage values
        ``(H, S)``, before the first iteration."""
        h, s = self.horizon, self.num_states
        return jnp.zeros((h, s, *self.num_actions), dtype), jnp.zeros((h, s), dtype)

    def observed_stage_q(self, q, vsum, length) -> Any:
        """Algorithm 1's stage-based value update ``Q[h] <- r_0[h] + P[h]
        (vsum[h + 1] / L)`` (:func:`~marlmeta.games._backward_induction.stage_q`),
        replacing the stage ``Q`` ``q`` (a kind may keep the parts of its
        compact ``Q`` that no stage changes; here unused)."""
        del q
        return stage_q(self, self.rewards[0], vsum, length)

    def stage_feedback(self, q, mu, nu):
        """Algorithm 1's belief-weighted feedback of both players, the stage
        value per state and each player's own-reach mass per observation.

        ``g_mu(h, o) = sum_{s in o} c0(s) (Q nu)(s) / sum_{s in o} c0(s)`` with
        ``c0`` the reach under (uniform, ``nu``), symmetrically ``g_nu`` from
        ``mu^T Q`` and ``c1`` (reach under (``mu``, uniform)); the own-reach
        masses are ``c1`` per observation of player 0 and ``c0`` of player 1.

        Returns:
            ``(g_mu, g_nu, value, mass_mu, mass_nu)``.
        """
        mu_s, nu_s = self.observation_policy((mu, nu)).lift().tables
        q_nu = _sum_axis(q * nu_s[..., None, :], -1)
        mu_q = _sum_axis(q * mu_s[..., None], -2)
        c0, c1 = beliefs(self, (mu, nu))
        return (
            belief_average(self, 0, q_nu, c0),
            belief_average(self, 1, mu_q, c1),
            _sum_axis(mu_s * q_nu, -1),
            mass_per_observation(self, 0, c1),
            mass_per_observation(self, 1, c0),
        )

    def counterfactual_feedback(self, tables):
        """Counterfactual values ``U_i(h, o, a) = sum_{s in o} c_i(s)
        Qbar_i(s, a)`` of the joint policy ``tables`` (``c_i``: reach under the
        others' tables and a uniform own policy) and each player's own-reach
        mass per observation (reach under its table and uniform others).

        Returns:
            ``(feedback, mass)``, one entry per player each.
        """
        policy = self.observation_policy(tables)
        lifted = policy.lift().tables
        qbar = self.averaged_q(policy.lift())
        feedback = tuple(
            self.pool(i, c[..., None] * q)
            for i, (c, q) in enumerate(zip(beliefs(self, tables), qbar, strict=True))
        )
        own = [
            ProductPolicy(
                tuple(
                    p if j == i else jnp.full_like(p, 1.0 / p.shape[-1])
                    for j, p in enumerate(lifted)
                )
            )
            for i in range(len(tables))
        ]
        mass = tuple(
            mass_per_observation(self, i, self.reach(d)) for i, d in enumerate(own)
        )
        return feedback, mass


def beliefs(game: AbstractObservedGame, tables) -> list[Float[Array, "H S"]]:
    """Per player ``i``: ``c_h(s)``, the reach under the others' iterates and a
    uniform policy of ``i`` (its belief weights, and for two players the own
    reach of the other player)."""
    return [game.reach(d) for d in game.observation_policy(tables).deviation_policies()]


def belief_average(game: AbstractObservedGame, i: int, x, weight):
    """``sum_{s in o} w(s) x(s, .) / sum_{s in o} w(s)`` over player ``i``'s
    observations (``0`` where the mass is ``0``)."""
    num = game.pool(i, weight[..., None] * x)
    mass = mass_per_observation(game, i, weight)[..., None]
    return jnp.where(mass > 0, num / jnp.where(mass > 0, mass, 1), 0)


def mass_per_observation(game: AbstractObservedGame, i: int, weight):
    """``sum_{s in o} w(s)`` per observation ``(H, O_i)`` of player ``i``."""
    return game.pool(i, weight[..., None])[..., 0]


class ObservedGame(AbstractObservedGame):
    """A finite-horizon game with one observation map per player.

    Build with :func:`observe` (which checks the maps and perfect recall);
    policies are :class:`~marlmeta.policies.ObservationPolicy`.

    The fields ``reward_model``, ``transitions``, ``initial``,
    ``potential_reward``, ``num_actions``, ``horizon`` and ``legal`` are those
    of :class:`~marlmeta.games.FiniteHorizonGame`.

    Attributes:
        observations: player ``i``'s map ``(H, S)`` into ``[0, O_i)``.
        num_observations: ``(O_0, .., O_{N-1})`` (static).
    """

    reward_model: AbstractRewards
    transitions: AbstractTransitions
    initial: Float[Array, " S"]
    potential_reward: Float[Array, "H S *A"] | None
    num_actions: tuple[int, ...] = eqx.field(static=True)
    horizon: int = eqx.field(static=True)
    observations: tuple[Int[Array, "H S"], ...]
    num_observations: tuple[int, ...] = eqx.field(static=True)
    legal: AbstractLegalActions

    def observation_policy(self, tables) -> ObservationPolicy:
        return ObservationPolicy(tuple(tables), tuple(self.observations))

    def pool(self, i, x):
        return pool(x, self.observations[i], self.num_observations[i])


def observe(
    game: FiniteHorizonGame, observations, num_observations=None, *, check=True
) -> ObservedGame:
    """``game`` where player ``i`` observes ``observations[i]`` instead of the state.

    Args:
        game: a finite-horizon game (one game, not a batch; concrete arrays).
        observations: per player an integer array-like ``(H, S)``.
        num_observations: per player ``O_i`` (default: ``1 + max`` of its map).
        check: check perfect recall (:func:`check_perfect_recall`).

    Raises:
        ValueError: a map of the wrong shape, a negative or too large entry (the
            message names the player, the index and the value), or a game
            without perfect recall.
    """
    game.require_finite_horizon("observe")
    game.require_one_game("observe")
    n, shape = game.num_players, (game.horizon, game.num_states)
    if len(observations) != n:
        raise ValueError(
            f"observations has {len(observations)} maps; the game has {n} players"
        )
    maps = [np.asarray(o) for o in observations]
    counts = []
    for i, o in enumerate(maps):
        if o.shape != shape or o.dtype.kind not in "iu":
            raise ValueError(
                f"observations[{i}] has shape {o.shape} and dtype {o.dtype}; "
                f"expected integers of shape {shape}"
            )
        count = int(o.max()) + 1 if num_observations is None else num_observations[i]
        check_index_range(f"observations[{i}]", o, count, "an observation")
        counts.append(int(count))
    game.require_state_policies("observe")
    out = ObservedGame(
        reward_model=game.reward_model,
        transitions=game.transitions,
        initial=game.initial,
        potential_reward=game.potential_reward,
        num_actions=game.num_actions,
        horizon=game.horizon,
        observations=tuple(jnp.asarray(o, jnp.int32) for o in maps),
        num_observations=tuple(counts),
        legal=game.legal,
    )
    _check_legal(out)
    if check:
        check_perfect_recall(out)
    return out


def _check_legal(game: ObservedGame) -> None:
    """Raise ``ValueError`` unless, for every player, the states it observes
    alike have the same legal actions (a state where every action is legal, a
    dummy move, excepted): an observation policy's row is then legal at every
    state it is played in."""
    masks = game.legal.masks(game.lead_shape, game.num_actions)
    per_obs = game.legal.per_observation(
        game.lead_shape, game.num_actions, game.observations, game.num_observations
    )
    for i, (m, mo, o) in enumerate(zip(masks, per_obs, game.observations, strict=True)):
        m, mo, o = np.asarray(m), np.asarray(mo), np.asarray(o)
        lifted = np.take_along_axis(mo, o[..., None], axis=-2)
        bad = (lifted != m).any(-1) & ~m.all(-1)
        if bad.any():
            h, s = (int(k) for k in np.unravel_index(np.argmax(bad), bad.shape))
            raise ValueError(
                f"legal[{i}][{h}, {s}] is {m[h, s].tolist()}, but player {i}'s "
                f"observation {int(o[h, s])} at step {h} has the legal actions "
                f"{lifted[h, s].tolist()} elsewhere; states observed alike need "
                "the same legal actions"
            )


def _dummies(game: ObservedGame, nxt, prob) -> list[np.ndarray]:
    """Per player a boolean ``(H, S)``: its action changes nothing there."""
    r = np.asarray(game.rewards)
    out = []
    for i in range(game.num_players):
        ax = 3 + i  # rewards[m, h, s, a_0, ..]
        same_r = np.all(r == np.take(r, [0], axis=ax), axis=(0, *range(3, r.ndim)))
        same = same_r
        for x in (nxt, prob):
            eq = np.all(x == np.take(x, [0], axis=2 + i), axis=tuple(range(2, x.ndim)))
            same = same & (eq if eq.shape[0] == game.horizon else eq[[0]])
        out.append(same)
    return out


def _history(parents, h: int, o: int, action) -> str:
    """Player's own history of (observation, action) pairs ending at ``(h, o)``."""
    steps = [f"(step {h}: obs {o}, action {action})"]
    while h > 0 and (h, o) in parents:
        o, a = parents[(h, o)]
        h -= 1
        steps.append(f"(step {h}: obs {o}, action {'-' if a < 0 else a})")
    return " -> ".join(reversed(steps))


def check_perfect_recall(game: ObservedGame) -> None:
    """Raise ``ValueError`` unless every player has perfect recall.

    The message names the player, the step, the observation and the two
    conflicting histories (each a chain of the player's own observations and
    actions; ``-`` marks a dummy action).
    """
    game.require_observations("check_perfect_recall")
    game.require_one_game("check_perfect_recall")
    initial = concrete(game.initial)
    nxt, prob = game.transitions.support()
    H, S = game.horizon, game.num_states
    t_of = (lambda h: h) if prob.shape[0] == H else (lambda h: 0)
    dummy = _dummies(game, nxt, prob)
    legal = [np.asarray(m) for m in game.legal.masks(game.lead_shape, game.num_actions)]
    # Forward reachability under any actions.
    reach = np.zeros((H, S), bool)
    reach[0] = initial > 0
    for h in range(H - 1):
        live = (prob[t_of(h)] > 0) & reach[h].reshape((S,) + (1,) * (prob.ndim - 2))
        reach[h + 1, nxt[t_of(h)][live]] = True
    for i in range(game.num_players):
        obs = np.asarray(game.observations[i])
        # acts[h, s]: the player acts at (h, s) or at some later successor.
        acts = np.zeros((H, S), bool)
        acts[H - 1] = ~dummy[i][H - 1]
        for h in range(H - 2, -1, -1):
            t = t_of(h)
            later = (acts[h + 1][nxt[t]] & (prob[t] > 0)).reshape(S, -1).any(-1)
            acts[h] = ~dummy[i][h] | later
        parents: dict[tuple[int, int], tuple[int, int]] = {}
        for h in range(H - 1):
            t = t_of(h)
            grid = np.indices(prob[t].shape)  # (s, a_0, .., a_{N-1}, k)
            succ = nxt[t]
            keep = (prob[t] > 0) & reach[h][grid[0]] & acts[h + 1][succ]
            for j, m in enumerate(legal):  # illegal actions are never played
                keep &= m[h][grid[0], grid[1 + j]]
            s, a, s2 = grid[0][keep], grid[1 + i][keep], succ[keep]
            a = np.where(dummy[i][h][s], -1, a)
            key, val = obs[h + 1, s2], np.stack([obs[h, s], a], axis=1)
            rows = np.unique(np.column_stack([key, val]), axis=0)
            ks, first, counts = np.unique(
                rows[:, 0], return_index=True, return_counts=True
            )
            for k, f in zip(ks.tolist(), first.tolist(), strict=True):
                parents[(h + 1, k)] = (int(rows[f, 1]), int(rows[f, 2]))
            if (counts > 1).any():
                j = int(first[np.argmax(counts > 1)])
                k = int(rows[j, 0])
                (o1, a1), (o2, a2) = rows[j, 1:], rows[j + 1, 1:]
                raise ValueError(
                    f"player {i} does not have perfect recall: at step {h + 1} "
                    f"observation {k} follows two histories "
                    f"{_history(parents, h, int(o1), '-' if a1 < 0 else int(a1))} "
                    f"and {_history(parents, h, int(o2), '-' if a2 < 0 else int(a2))}"
                )
