"""Independent projected Q-descent for Markov potential games.

Mao, Qiu, Wang et al.'s eq. (7). Every player, per
``(h, s)``:

    pi_i <- Proj_simplex(pi_i + alpha * Qbar_i),
    Qbar_{h,i}(s, a_i) = E_{a_{-i} ~ pi_{h,-i}(.|s)} Q_{h,i}(s, a_i, a_{-i}),

with ``Q`` the exact Q-function of the current joint policy (finite horizon:
by backward induction; discounted: by a linear solve, without the ``h`` axis).
The updates are simultaneous (every player's ``Qbar`` comes from the same
joint policy), and the projection is the Euclidean one onto the simplex, by
sorting. The output is the last iterate, which is also what the warm-start
meta-update of the paper's Theorem 3 (:func:`marlmeta.meta.warm_start`) hands
to the next game.

References:
    Mao, Qiu, Wang et al. Multi-Agent Meta-Reinforcement Learning: Sharper
    Convergence Rates with Task Similarity. NeurIPS 2023, eq. (7) and
    Theorem 3.

    Ding, Wei, Yang, Wang, Jovanović. Independent Policy Gradient for
    Large-Scale Markov Potential Games. ICML 2022.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from marlmeta.evaluation import averaged_q
from marlmeta.games import AbstractMarkovGame, legal_face
from marlmeta.policies import uniform
from marlmeta.solvers._base import AbstractSolver, check_hyperparameter, hyperparameter


def project_simplex(y: Float[Array, "... A"]) -> Float[Array, "... A"]:
    """Euclidean projection of every row (last axis) onto the probability simplex.

    ``x = max(y - tau, 0)`` with ``tau = (sum_{j <= k} u_j - 1) / k``, ``u`` the
    row sorted in decreasing order and ``k`` the largest index with
    ``u_k > (sum_{j <= k} u_j - 1) / k`` (Held, Wolfe and Crowder 1974).
    """
    u = -jnp.sort(-y, axis=-1)
    css = jnp.cumsum(u, axis=-1) - 1
    k = jnp.arange(1, y.shape[-1] + 1, dtype=y.dtype)
    support = jnp.sum(u * k > css, axis=-1, keepdims=True)
    tau = jnp.take_along_axis(css, support - 1, axis=-1) / support.astype(y.dtype)
    return jnp.maximum(y - tau, 0)


class ProjectedQDescent(AbstractSolver):
    """Independent projected Q-descent (Mao et al. eq. 7), finite or discounted.

    The state, the initial-policy argument, the output and the meta statistics
    are all the current product policy.

    Attributes:
        step_size: ``alpha > 0`` (an array leaf).

    Example:
        >>> import marlmeta
        >>> from marlmeta.games import zoo
        >>> game = zoo.mao2023_identical_interest()
        >>> solver = marlmeta.solvers.ProjectedQDescent(0.05)
        >>> sol = marlmeta.solve(solver, game, 300)
        >>> bool(sol.trace.ne_gap[-1] < 1e-2)
        True
    """

    step_size: Float[Array, ""] = hyperparameter("step_size")

    def __check_init__(self):
        check_hyperparameter("step_size", self.step_size)

    def default_init(self, game: AbstractMarkovGame, num_steps: int):
        del num_steps
        return uniform(game)

    def init(self, game: AbstractMarkovGame, init_policy):
        dtype = game.rewards.dtype
        return tuple(p.astype(dtype) for p in init_policy)

    def step(self, game: AbstractMarkovGame, state):
        alpha = self.step_size.astype(state[0].dtype)
        qbar = averaged_q(game, state)
        steps = tuple(p + alpha * q for p, q in zip(state, qbar, strict=True))
        # Illegal actions stay at probability 0 (projection on the legal face).
        return tuple(project_simplex(y) for y in legal_face(game, steps))

    def output(self, game: AbstractMarkovGame, state):
        del game
        return state

    def stats(self, game: AbstractMarkovGame, state):
        del game
        return state
