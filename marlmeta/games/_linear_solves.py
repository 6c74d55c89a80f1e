"""The evaluation engine of the discounted kind: linear solves and policy
iteration, as strategy objects.

``V = (I - gamma P_pi)^{-1} r_pi``; a best response is found by policy
iteration until the policy stops changing (a state switches action only on a
strict improvement), then its value comes from one linear solve. Every loop
is bounded: policy iteration that has not settled after
:data:`MAX_POLICY_ITERATIONS` rounds (rounding can make near-ties flip back and
forth when ``gamma`` is close to 1) gives NaN values for that best response,
never a silent unconverged number, and under ``vmap`` the other games of the
batch are unaffected. The search
runs on ``stop_gradient`` inputs, so the gradient of a best-response value is
the gradient through that last solve with the best-response policy held fixed
(Danskin's theorem).

How the systems are solved is the game's ``linear_solver``, a strategy object
(static):

- :class:`DenseSolve`: the next-state tensor ``(S, S, *A)`` is formed through
  ``expectation`` and the ``S x S`` systems are solved by LU, exact to rounding
  (:func:`marlmeta._linalg.solve`: plain XLA loops for small ``S``, which a
  large vmapped batch of games cannot deadlock, and LAPACK for large ``S``);
- :class:`MatrixFreeSolve`: nothing of size ``S x S`` is formed. Values solve
  ``v - gamma E_pi[P v] = r_pi`` with the matrix-free operator
  ``v -> v - gamma E_pi[expectation(v)]`` by GMRES (lineax; differentiable by
  the implicit function theorem) to the tolerance :func:`iterative_tolerance`
  (``1e-12`` in float64, ``1e-6`` in float32) relative to the scale of the
  values, ``|r|_inf / (1 - gamma)``, componentwise;
  best responses start from value iteration to that tolerance and finish with
  matrix-free policy iteration, so that they are exact up to the same tolerance;
- :class:`AutoSolve` (the default): :class:`DenseSolve` up to
  ``max_dense_states`` states (:data:`DENSE_MAX_STATES`), :class:`MatrixFreeSolve`
  above (the number of states is static).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Bool, Float, Int

from marlmeta._linalg import solve
from marlmeta.games._evaluation import Evaluation

if TYPE_CHECKING:
    from marlmeta.games._game import DiscountedMarkovGame

#: Cap on policy-iteration rounds; policy iteration with strict improvement
#: terminates long before this in exact arithmetic, and a search still
#: changing after this many rounds gives NaN values (not converged).
MAX_POLICY_ITERATIONS = 1000

#: :class:`AutoSolve` solves dense ``S x S`` systems up to this many states.
DENSE_MAX_STATES = 2000

#: Cap on value-iteration sweeps of the matrix-free best response.
MAX_VALUE_ITERATIONS = 100_000


def next_state_tensor(game: DiscountedMarkovGame, dtype) -> Float[Array, "S S *A"]:
    """``E[s', s, a] = P(s'|s, a)`` through the ``expectation`` interface."""
    eye = jnp.eye(game.num_states, dtype=dtype)
    return jax.vmap(lambda e: game.transitions.expectation(0, e))(eye)


def _solve(gamma, p: Float[Array, "S S"], r: Float[Array, "S ..."]):
    eye = jnp.eye(p.shape[0], dtype=p.dtype)
    return solve(eye - gamma * p, r)


def state_kernel(policy, nxt: Float[Array, "S S *A"]) -> Float[Array, "S S"]:
    """``P_pi[s, s'] = E_{a ~ pi(.|s)} P(s'|s, a)``."""
    return jax.vmap(policy.expect)(nxt).T


def dtype_of(rewards, policy):
    return jnp.result_type(rewards.dtype, policy.dtype)


def policy_values(
    game: DiscountedMarkovGame,
    policy,
    rewards: Float[Array, "M S *A"] | None = None,
    nxt: Float[Array, "S S *A"] | None = None,
) -> Float[Array, "M S"]:
    """Values ``(I - gamma P_pi)^{-1} r_pi`` of each reward table, per state.

    ``nxt`` is the next-state tensor of :func:`next_state_tensor`, when the
    caller already has it.
    """
    return values_and_kernel(game, policy, rewards, nxt)[0]


def values_and_kernel(
    game: DiscountedMarkovGame,
    policy,
    rewards: Float[Array, "M S *A"] | None = None,
    nxt: Float[Array, "S S *A"] | None = None,
) -> tuple[Float[Array, "M S"], Float[Array, "S S"]]:
    """:func:`policy_values` and the state kernel ``P_pi`` they were solved with."""
    rewards = game.rewards if rewards is None else rewards
    if nxt is None:
        nxt = next_state_tensor(game, dtype_of(rewards, policy))
    p_pi = state_kernel(policy, nxt)
    r_pi = jnp.stack([policy.expect(r) for r in rewards], axis=-1)  # (S, M)
    return _solve(game.discount, p_pi, r_pi).T, p_pi


class PolicyParts(eqx.Module):
    """What the softmax quantities of a discounted game are made of.

    Attributes:
        values: ``V_i`` per player and state, ``(N, S)``.
        qbar: ``Qbar_i(s, a_i)`` per player, ``(S, A_i)``.
        visitation: the discounted visitation ``d`` from ``initial``, ``(S,)``.
    """

    values: Float[Array, "N S"]
    qbar: tuple[Float[Array, "S Ai"], ...]
    visitation: Float[Array, " S"]


def _dense_qbar(game, policy, nxt, v) -> tuple[Array, ...]:
    q = game.rewards + game.discount * jnp.tensordot(v, nxt, axes=(1, 0))
    return tuple(policy.expect_others(q[i], i) for i in range(game.num_players))


def _visitation(game, p_pi: Float[Array, "S S"]) -> Float[Array, " S"]:
    eye = jnp.eye(p_pi.shape[0], dtype=p_pi.dtype)
    x = solve((eye - game.discount * p_pi).T, game.initial)
    return (1 - game.discount) * x


def visitation(game: DiscountedMarkovGame, policy) -> Float[Array, " S"]:
    """``d = (1 - gamma) (I - gamma P_pi)^{-T} rho`` of any policy kind (dense)."""
    nxt = next_state_tensor(game, dtype_of(game.rewards, policy))
    return _visitation(game, state_kernel(policy, nxt))


def parts(game: DiscountedMarkovGame, policy) -> PolicyParts:
    """Values, ``Qbar_i`` and the visitation ``d`` from one next-state tensor and
    one state kernel ``P_pi``: ``V = (I - gamma P_pi)^{-1} r_pi`` and
    ``d = (1 - gamma) (I - gamma P_pi)^{-T} rho``."""
    nxt = next_state_tensor(game, dtype_of(game.rewards, policy))
    v, p_pi = values_and_kernel(game, policy, nxt=nxt)  # (N, S)
    qbar = _dense_qbar(game, policy, nxt, v)
    return PolicyParts(values=v, qbar=qbar, visitation=_visitation(game, p_pi))


def _dense_improve(d: Int[Array, " S"], data) -> Int[Array, " S"]:
    """One policy-improvement step of :func:`_mdp_best_response`: evaluate
    ``d`` exactly, then switch each state to its best action where that is
    better by more than ``tol``."""
    gamma, r, p, legal, tol = data
    states = jnp.arange(r.shape[0])
    v = _solve(gamma, p[states, d], r[states, d])
    q = jnp.where(legal, r + gamma * p @ v, -jnp.inf)
    best = jnp.argmax(q, axis=-1)
    better = q[states, best] > q[states, d] + tol
    return jnp.where(better, best, d)


def _mdp_best_response(
    gamma, r: Float[Array, "S A"], p: Float[Array, "S A S"], legal: Bool[Array, "S A"]
):
    """Optimal deterministic policy of an MDP over the ``legal`` actions by
    policy iteration (no gradient), and whether the search converged
    (:func:`_policy_iteration`)."""
    gamma, r, p = jax.lax.stop_gradient((gamma, r, p))
    scale = jnp.max(jnp.abs(r)) + 1.0
    tol = 64 * jnp.finfo(r.dtype).eps * scale / (1 - gamma)
    d0 = jnp.argmax(jnp.where(legal, r, -jnp.inf), -1)
    return _policy_iteration(_DENSE_ROUND, d0, (gamma, r, p, legal, tol))


def _rounds(improve):
    """The loop body of :func:`_policy_iteration` for ``improve(d, data)``:
    ``(d, prev, k, cap, data) -> (improve(d, data), d, k + 1, cap, data)``."""

    def body(c):
        d, _, k, cap, data = c
        return improve(d, data), d, k + 1, cap, data

    return body


def _unchanged_or_capped(c):
    d, prev, k, cap, _ = c
    return jnp.any(d != prev) & (k < cap)


#: The dense search's loop body, built once: the loop's arrays travel in its
#: carry, so that an eager call finds the compiled loop in JAX's caches
#: instead of compiling it again.
_DENSE_ROUND = _rounds(_dense_improve)


def _policy_iteration(body, d0, data=()):
    """Policy iteration from ``d0`` with the loop body ``body`` of
    :func:`_rounds`, until the policy stops changing, at most
    :data:`MAX_POLICY_ITERATIONS` rounds (read at each call, and carried by
    the loop rather than traced into its body).

    Returns:
        ``(d, converged)``: the last policy and whether it was a fixed point.
    """
    cap = jnp.asarray(MAX_POLICY_ITERATIONS)
    d, prev, _, _, _ = jax.lax.while_loop(
        _unchanged_or_capped, body, body((d0, d0, 0, cap, data))
    )
    return d, jnp.all(d == prev)


def _flag(converged, values):
    """``values``, or NaN where the search that produced them did not converge."""
    return jnp.where(converged, values, jnp.nan)


def best_response_values(game: DiscountedMarkovGame, policy, nxt=None):
    """Best-response values ``(N, S)`` and policies (one-hot ``(S, A_i)``).

    ``nxt`` as in :func:`policy_values`.
    """
    dtype = dtype_of(game.rewards, policy)
    if nxt is None:
        nxt = next_state_tensor(game, dtype)
    states = jnp.arange(game.num_states)
    masks = game.legal.masks(game.lead_shape, game.num_actions)
    values, brs = [], []
    for i in range(game.num_players):
        r = policy.expect_others(game.rewards[i], i)  # (S, A_i)
        p = jax.vmap(lambda e, i=i: policy.expect_others(e, i))(nxt)  # (S', S, A_i)
        p = jnp.moveaxis(p, 0, -1)  # (S, A_i, S')
        d, ok = _mdp_best_response(game.discount, r, p, masks[i])
        values.append(_flag(ok, _solve(game.discount, p[states, d], r[states, d])))
        brs.append(jax.nn.one_hot(d, r.shape[-1], dtype=dtype))
    return jnp.stack(values), tuple(brs)


def iterative_tolerance(dtype) -> float:
    """Relative and absolute tolerance of the matrix-free solves."""
    return 1e-12 if jnp.finfo(dtype).bits == 64 else 1e-6


def _solve_operator(
    gamma, step, r: Float[Array, " S"], guess: Float[Array, " S"] | None = None
) -> Float[Array, " S"]:
    """``v`` with ``v - gamma step(v) = r`` for a linear ``step`` (matrix-free),
    by GMRES started from ``guess`` (zero by default).

    ``step`` averages ``v`` (a stochastic kernel), so ``|v|_inf <= |r|_inf /
    (1 - gamma)``; GMRES stops when every component of the residual is within
    ``tol (|r_s| + |r|_inf / (1 - gamma))`` (``tol`` of
    :func:`iterative_tolerance`), and likewise the last change of ``v``. The
    absolute part is relative to the scale of the values because the residual
    cannot be computed more accurately than the rounding of ``v``: with an
    absolute floor of ``tol`` alone, float32 values of size 5 round to
    residuals of about ``2e-6 > 1e-6`` in some of 100,000 states, GMRES
    stagnated and the values came back NaN. The error of the result is at most
    the residual over ``1 - gamma``.
    """
    tol = iterative_tolerance(r.dtype)
    tiny = jnp.finfo(r.dtype).tiny
    scale = jnp.maximum(jnp.max(jnp.abs(r)) / (1 - gamma), tiny)
    op = lx.FunctionLinearOperator(
        lambda v: v - gamma * step(v), jax.ShapeDtypeStruct(r.shape, r.dtype)
    )
    solver = lx.GMRES(
        rtol=tol,
        atol=jax.lax.stop_gradient(tol * scale),
        restart=40,
        max_steps=10 * r.shape[0],
    )
    options = {} if guess is None else {"y0": jax.lax.stop_gradient(guess)}
    sol = lx.linear_solve(op, r, solver, options=options, throw=False)
    ok = sol.result == lx.RESULTS.successful
    return jnp.where(ok, sol.value, jnp.nan)  # never a silent unconverged value


def _iterative_values(game, policy, rewards):
    def step(v):
        return policy.expect(game.transitions.expectation(0, v))

    return jnp.stack(
        [_solve_operator(game.discount, step, policy.expect(r)) for r in rewards]
    )


def _optimal(gamma, r: Float[Array, "S A"], step, legal: Bool[Array, "S A"]):
    """Optimal values and a deterministic optimal policy of the MDP with reward
    ``r``, next-value map ``step(v) -> (S, A)`` and actions ``legal``,
    matrix-free.

    Value iteration to the square root of the solver tolerance (a near-optimal
    greedy policy), then policy iteration (strict improvements only, by more
    than the tolerance) with matrix-free evaluation, which makes the policy
    optimal up to the tolerance; the final evaluation is differentiable in
    ``r`` and ``step`` with the policy held fixed.
    """
    g, rs = jax.lax.stop_gradient((gamma, r))
    tol = iterative_tolerance(r.dtype) * (jnp.max(jnp.abs(rs)) + 1.0)
    states = jnp.arange(r.shape[0])

    def greedy(v):  # the legal actions' values
        return jnp.where(legal, rs + g * jax.lax.stop_gradient(step(v)), -jnp.inf)

    def bellman(v):
        return jnp.max(greedy(v), axis=-1)

    def vi_cond(c):
        v, prev, k = c
        rough = jnp.sqrt(tol) * (1 - g)
        return (jnp.max(jnp.abs(v - prev)) > rough) & (k < MAX_VALUE_ITERATIONS)

    def vi_body(c):
        v, _, k = c
        return bellman(v), v, k + 1

    v0 = jnp.max(jnp.where(legal, rs, -jnp.inf), axis=-1)
    v, _, _ = jax.lax.while_loop(vi_cond, vi_body, (bellman(v0), v0, 1))

    def evaluate(d, r, gamma):  # started from the value-iteration estimate
        pick = lambda x: x[states, d]  # noqa: E731
        return _solve_operator(gamma, lambda u: pick(step(u)), pick(r), v)

    def improve(d):
        q = greedy(evaluate(d, rs, g))
        best = jnp.argmax(q, axis=-1)
        better = q[states, best] > q[states, d] + tol
        return jnp.where(better, best, d)

    d0 = jnp.argmax(greedy(v), axis=-1)
    d, ok = _policy_iteration(_rounds(lambda d, _: improve(d)), d0)
    return _flag(ok, evaluate(d, r, gamma)), d


def _iterative_best(game, policy):
    dtype = dtype_of(game.rewards, policy)
    masks = game.legal.masks(game.lead_shape, game.num_actions)
    values, brs = [], []
    for i in range(game.num_players):
        r = policy.expect_others(game.rewards[i], i)

        def step(v, i=i):
            return policy.expect_others(game.transitions.expectation(0, v), i)

        v, d = _optimal(game.discount, r, step, masks[i])
        values.append(v)
        brs.append(jax.nn.one_hot(d, r.shape[-1], dtype=dtype))
    return jnp.stack(values), tuple(brs)


class OptimalPolicy(eqx.Module):
    """A deterministic optimal joint policy of a single-reward MDP.

    Attributes:
        values: the optimal values ``V*``, ``(S,)`` (NaN where the search
            did not converge).
        actions: the optimal joint action per state, the flat row-major index
            of ``(a_0, .., a_{N-1})``, ``(S,)``.
    """

    values: Float[Array, " S"]
    actions: Int[Array, " S"]


class AbstractLinearSolver(eqx.Module):
    """How a discounted game solves its linear systems (a strategy object).

    A discounted game holds one (static) and calls it for every exact
    evaluation; see the module text for the concrete strategies.
    """

    @abc.abstractmethod
    def evaluate(
        self, game: DiscountedMarkovGame, policy, rewards, *, best: bool
    ) -> Evaluation:
        """Values ``(M, S)`` of each reward table, and with ``best`` each
        player's best-response values and deterministic best responses."""

    @abc.abstractmethod
    def averaged_q(self, game: DiscountedMarkovGame, policy) -> tuple[Array, ...]:
        """``Qbar_i = E_{a_{-i}}[r_i + gamma E[V_i(s')]]`` per player."""

    @abc.abstractmethod
    def optimal_policy(
        self, game: DiscountedMarkovGame, reward: Float[Array, " S *A"]
    ) -> OptimalPolicy:
        """Optimal values of the joint-action MDP with ``reward`` and a
        deterministic optimal joint action per state."""


class DenseSolve(AbstractLinearSolver):
    """Dense ``S x S`` systems solved by LU (exact to rounding).

    Policy iteration with dense solves for best responses and optimal
    policies, then one exact solve, differentiable with the policy held fixed.
    """

    def evaluate(self, game, policy, rewards, *, best):
        nxt = next_state_tensor(game, dtype_of(rewards, policy))
        v = policy_values(game, policy, rewards, nxt=nxt)
        b, br = best_response_values(game, policy, nxt) if best else (None, None)
        return Evaluation(values=v, best_values=b, best_responses=br)

    def averaged_q(self, game, policy):
        nxt = next_state_tensor(game, dtype_of(game.rewards, policy))
        v = values_and_kernel(game, policy, nxt=nxt)[0]
        return _dense_qbar(game, policy, nxt, v)

    def optimal_policy(self, game, reward):
        s = game.num_states
        flat = reward.reshape(s, -1)
        nxt = next_state_tensor(game, reward.dtype).reshape(s, s, -1)  # (S', S, A)
        p = jnp.moveaxis(nxt, 0, -1)  # (S, A, S')
        d, ok = _mdp_best_response(game.discount, flat, p, joint_legal(game))
        states = jnp.arange(s)
        v = _flag(ok, _solve(game.discount, p[states, d], flat[states, d]))
        return OptimalPolicy(values=v, actions=d)


class MatrixFreeSolve(AbstractLinearSolver):
    """Matrix-free GMRES (lineax) through ``expectation``: nothing ``S x S``.

    Tolerance :func:`iterative_tolerance`; best responses and optimal policies
    by value iteration then matrix-free policy iteration.
    """

    def evaluate(self, game, policy, rewards, *, best):
        v = _iterative_values(game, policy, rewards)
        b, br = _iterative_best(game, policy) if best else (None, None)
        return Evaluation(values=v, best_values=b, best_responses=br)

    def averaged_q(self, game, policy):
        v = _iterative_values(game, policy, game.rewards)
        expectation = jax.vmap(game.transitions.expectation, in_axes=(None, 0))
        q = game.rewards + game.discount * expectation(0, v)
        return tuple(policy.expect_others(q[i], i) for i in range(game.num_players))

    def optimal_policy(self, game, reward):
        s = game.num_states
        flat = reward.reshape(s, -1)
        step = _joint_step(game)
        return OptimalPolicy(*_optimal(game.discount, flat, step, joint_legal(game)))


class AutoSolve(AbstractLinearSolver):
    """:class:`DenseSolve` up to ``max_dense_states`` states, else
    :class:`MatrixFreeSolve` (chosen from the static number of states).

    Attributes:
        max_dense_states: the largest ``S`` solved densely (static).
    """

    max_dense_states: int = eqx.field(static=True, default=DENSE_MAX_STATES)

    def pick(self, game: DiscountedMarkovGame) -> AbstractLinearSolver:
        """The strategy used for ``game``."""
        if game.num_states <= self.max_dense_states:
            return DenseSolve()
        return MatrixFreeSolve()

    def evaluate(self, game, policy, rewards, *, best):
        return self.pick(game).evaluate(game, policy, rewards, best=best)

    def averaged_q(self, game, policy):
        return self.pick(game).averaged_q(game, policy)

    def optimal_policy(self, game, reward):
        return self.pick(game).optimal_policy(game, reward)


def joint_legal(game) -> Bool[Array, "S A"]:
    """``(S, prod_i A_i)``: whether every player's action of each joint action
    (flat, row-major) is legal at each state."""
    masks = game.legal.masks(game.lead_shape, game.num_actions)
    n, out = len(masks), jnp.ones((game.num_states,) + (1,) * len(masks), bool)
    for i, m in enumerate(masks):
        out = out & m.reshape(
            m.shape[0], *(m.shape[-1] if j == i else 1 for j in range(n))
        )
    return out.reshape(game.num_states, -1)


def _joint_step(game):
    s = game.num_states

    def step(v):
        return game.transitions.expectation(0, v).reshape(s, -1)

    return step


def optimal_values(game, reward: Float[Array, " S *A"]) -> Float[Array, " S"]:
    """Optimal values of the MDP over joint actions with ``reward`` (matrix-free
    value and policy iteration, for every strategy)."""
    flat = reward.reshape(game.num_states, -1)
    return _optimal(game.discount, flat, _joint_step(game), joint_legal(game))[0]


#: The strategies by the names a config or a game file gives them.
LINEAR_SOLVERS: dict[str, AbstractLinearSolver] = {
    "auto": AutoSolve(),
    "dense": DenseSolve(),
    "iterative": MatrixFreeSolve(),
}


def as_linear_solver(x, name: str = "linear_solver") -> AbstractLinearSolver:
    """A linear-solver strategy from a strategy object or one of the names of
    :data:`LINEAR_SOLVERS` (the boundary where a name becomes an object)."""
    if isinstance(x, str) and x in LINEAR_SOLVERS:
        return LINEAR_SOLVERS[x]
    if not isinstance(x, AbstractLinearSolver):
        raise ValueError(
            f"{name} is {x!r}; expected a linear-solver strategy (AutoSolve(), "
            f"DenseSolve(), MatrixFreeSolve()) or one of {sorted(LINEAR_SOLVERS)}"
        )
    return x
