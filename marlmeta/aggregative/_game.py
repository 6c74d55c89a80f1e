"""``AggregativeGame``: a Markov game whose players interact through an aggregate.

The model of Tang, Tang, Wu, "Provably Efficient Reinforcement Learning for
Large Aggregative Markov Games": at step ``h`` in state ``s`` the joint action
``a`` of ``n`` players enters rewards and transitions only through

    x_h(s, a) = sum_i contributions[h, s, i, a_i]   in R^d,

player ``i``'s reward is ``r_{h,i}(s, a_i, x)`` and the next state is drawn
from ``P_h(. | s, x)``. Joint actions (``m^n`` of them) are never enumerated,
except by :func:`marlmeta.aggregative.to_markov_game` for tiny ``n``.

Constants (all derived from the arrays unless declared):

- ``delta``: bounded influence, ``max ||contributions[h,s,i,a] -
  contributions[h,s,i,a']||_inf`` (one player's switch moves ``x`` by at most
  ``delta``);
- ``gamma_r``, ``gamma_P``: the Lipschitz constants of the models;
- ``lo``, ``hi``: the box ``(H, S, d)`` that contains every aggregate;
- ``reward_span``: ``max r - min r`` over that box, so that a value ``V_{h+1}``
  has span at most ``(H - 1 - h) reward_span`` (0-based ``h``) and
  ``Q_h(s, a, .)`` is ``L_h``-Lipschitz with
  ``L_h = gamma_r + gamma_P reward_span (H - 1 - h)``. With rewards in
  ``[0, 1]`` (``reward_span = 1``) this is the paper's ``gamma_r + gamma_P (H - h)``.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta._checks import (
    check_finite,
    check_simplex_rows,
    concrete,
    fmt_value,
    unravel,
)
from marlmeta.aggregative._models import (
    AbstractAggregateRewards,
    AbstractAggregateTransitions,
)

#: Slack allowed when a declared ``delta`` is compared with the contributions.
DELTA_TOL = 1e-9


class AggregativeGame(eqx.Module):
    """A finite-horizon aggregative Markov game (a pytree).

    Build with :func:`aggregative_game` (validating) or a generator.

    Attributes:
        contributions: ``(H, S, n, m, d)``; ``x = sum_i contributions[h, s, i, a_i]``.
        rewards: an :class:`AbstractAggregateRewards` of shape ``(H, S, n, m)``.
        transitions: an :class:`AbstractAggregateTransitions` of shape ``(H, S)``.
        initial: ``(S,)`` initial-state distribution.
        delta: the bounded-influence constant (scalar).
    """

    contributions: Float[Array, "H S n m d"]
    rewards: AbstractAggregateRewards
    transitions: AbstractAggregateTransitions
    initial: Float[Array, " S"]
    delta: Float[Array, ""]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading batch axes (``()`` for one game)."""
        return tuple(self.initial.shape[:-1])

    def require_one_game(self, caller: str) -> None:
        """Raise ``ValueError`` if this is a batch of games (static shapes, so
        it holds under ``jit``; under ``vmap`` each member passes)."""
        if self.batch_shape:
            raise ValueError(
                f"{caller} takes one game; got a batch of {self.batch_shape[0]} "
                f"games (initial has shape {tuple(self.initial.shape)}): use "
                "jax.vmap or solve_batch"
            )

    @property
    def horizon(self) -> int:
        return self.contributions.shape[0]

    @property
    def num_states(self) -> int:
        return self.contributions.shape[1]

    @property
    def num_players(self) -> int:
        return self.contributions.shape[2]

    @property
    def num_actions(self) -> int:
        return self.contributions.shape[3]

    @property
    def dim(self) -> int:
        """The aggregator dimension ``d``."""
        return self.contributions.shape[4]

    @property
    def gamma_r(self) -> Array:
        return self.rewards.lipschitz()

    @property
    def gamma_p(self) -> Array:
        return self.transitions.lipschitz()

    @property
    def lo(self) -> Float[Array, "H S d"]:
        """Smallest aggregate coordinate per ``(h, s)``."""
        return jnp.sum(jnp.min(self.contributions, axis=3), axis=2)

    @property
    def hi(self) -> Float[Array, "H S d"]:
        """Largest aggregate coordinate per ``(h, s)``."""
        return jnp.sum(jnp.max(self.contributions, axis=3), axis=2)

    @property
    def reward_span(self) -> Array:
        """``max r - min r`` over the box of aggregates."""
        rmin, rmax = self.rewards.bounds(self.lo, self.hi)
        return rmax - rmin

    def lipschitz_steps(self) -> Float[Array, " H"]:
        """``L_h = gamma_r + gamma_P reward_span (H - 1 - h)``, ``h = 0..H-1``."""
        togo = jnp.arange(self.horizon - 1, -1, -1)
        return self.gamma_r + self.gamma_p * self.reward_span * togo

    def aggregate(self, h, s, actions: Int[Array, " n"]) -> Float[Array, " d"]:
        """``x_h(s, a)`` of one joint action."""
        c = self.contributions[h, s]
        return jnp.sum(jnp.take_along_axis(c, actions[:, None, None], 1)[:, 0], 0)


def _spread(contributions: np.ndarray):
    """Largest ``||c[.., a, :] - c[.., a', :]||_inf`` and where it occurs."""
    diff = np.abs(contributions[..., :, None, :] - contributions[..., None, :, :])
    spread = diff.max(-1)
    flat = int(np.argmax(spread))
    return float(spread.ravel()[flat]), unravel(flat, spread.shape)


def aggregative_game(
    contributions,
    rewards: AbstractAggregateRewards,
    transitions: AbstractAggregateTransitions,
    initial,
    *,
    delta=None,
) -> AggregativeGame:
    """An aggregative Markov game, validated.

    Args:
        contributions: ``(H, S, n, m, d)`` (NumPy arrays and lists accepted);
            the aggregate is ``x = sum_i contributions[h, s, i, a_i]``.
        rewards: e.g. :class:`AffineRewards` or :class:`CongestionRewards` with
            shape ``(H, S, n, m)``.
        transitions: e.g. :class:`SoftmaxTransitions` with shape ``(H, S)``.
        initial: ``(S,)`` initial-state distribution.
        delta: the declared bounded influence; default the smallest valid one,
            ``max ||contributions[.., a, :] - contributions[.., a', :]||_inf``.

    Raises:
        ValueError: naming the argument, index and value: NaN or infinite
            entries, shapes that disagree, ``initial`` off the simplex, or a
            declared ``delta`` that the contributions exceed.

    Example:
        >>> import numpy as np
        >>> from marlmeta.aggregative import (
        ...     AffineRewards, SoftmaxTransitions, aggregative_game)
        >>> H, S, n, m, d = 2, 1, 3, 2, 1
        >>> c = np.zeros((H, S, n, m, d)); c[..., 1, 0] = 1 / n
        >>> r = AffineRewards(np.zeros((H, S, n, m)), np.ones((H, S, n, m, d)))
        >>> p = SoftmaxTransitions(np.zeros((H, S, S)), np.zeros((H, S, S, d)))
        >>> float(aggregative_game(c, r, p, [1.0]).delta)
        0.3333333333333333
    """
    contrib = jnp.asarray(contributions)
    if not jnp.issubdtype(contrib.dtype, jnp.floating):
        contrib = contrib.astype(jnp.result_type(float))
    if contrib.ndim != 5:
        raise ValueError(
            f"contributions has shape {contrib.shape}; expected (H, S, n, m, d)"
        )
    for axis, what in enumerate(["horizon", "states", "players", "actions", "dims"]):
        if contrib.shape[axis] == 0:
            raise ValueError(
                f"contributions has no {what} (axis {axis} of shape {contrib.shape})"
            )
    num_steps, num_states, n, m, _ = contrib.shape
    if tuple(rewards.shape) != (num_steps, num_states, n, m):
        raise ValueError(
            f"rewards has shape {tuple(rewards.shape)}; expected "
            f"{(num_steps, num_states, n, m)} to agree with contributions"
        )
    if tuple(transitions.shape) != (num_steps, num_states):
        raise ValueError(
            f"transitions has shape {tuple(transitions.shape)}; expected "
            f"{(num_steps, num_states)} to agree with contributions"
        )
    rewards.check()
    transitions.check()
    init = jnp.asarray(initial)
    if not jnp.issubdtype(init.dtype, jnp.floating):
        init = init.astype(contrib.dtype)
    c = concrete(contrib)
    spread = None
    if c is not None:
        check_finite("contributions", c)
        spread, where = _spread(c)
    ci = concrete(init)
    if ci is not None:
        if ci.shape != (num_states,):
            raise ValueError(
                f"initial has shape {ci.shape}; expected ({num_states},) "
                "to agree with contributions"
            )
        check_simplex_rows("initial", ci)
    if delta is None:
        delta = 0.0 if spread is None else spread
        if spread is None:
            delta = jnp.max(
                jnp.abs(contrib[..., :, None, :] - contrib[..., None, :, :])
            )
    else:
        dl = concrete(delta)
        if dl is not None:
            if dl.shape != () or not np.isfinite(dl) or dl < 0:
                raise ValueError(f"delta is {fmt_value(dl)}; expected a scalar >= 0")
            if spread is not None and spread > float(dl) + DELTA_TOL:
                h, s, i, a, b = where
                raise ValueError(
                    f"contributions[{h}, {s}, {i}] moves the aggregate by "
                    f"{spread!r} between actions {a} and {b}; exceeds delta = "
                    f"{float(dl)!r}"
                )
    return AggregativeGame(
        contributions=contrib,
        rewards=rewards,
        transitions=transitions,
        initial=init,
        delta=jnp.asarray(delta, contrib.dtype),
    )
