"""Policy kinds: classes with the few operations exact evaluation needs.

Evaluation never asks what kind a policy is; it calls these methods:

- ``at(h)``: the slice of step ``h`` (finite horizon), a policy of the same kind
  with a leading state axis;
- ``expect(q)``: ``E_{a ~ pi(.|s)} q(s, a)`` for a table ``q`` of shape
  ``(S, A_0, .., A_{N-1})``;
- ``expect_others(q, i)``: ``E_{a_{-i}} q(s, a_i, a_{-i})``, every player but
  ``i`` contracted (for a correlated policy, under the marginal of ``sigma(.|s)``
  over ``a_{-i}``: the coarse-correlated deviation);
- ``check(lead, num_actions, name)``: shapes always (they are static, so the
  check also runs under ``jit``) and values: a concrete table must be finite,
  non-negative and on the simplex (``ValueError`` naming the index and value);
  a traced one (under ``jit`` or ``vmap``) is checked at run time by
  ``eqx.error_if`` for negative entries and rows off the simplex (a NaN entry
  passes and makes every result NaN). It returns the checked policy, which
  carries the run-time check.

Tables are converted at construction: a policy kind given NumPy arrays or
nested lists holds JAX arrays (integer tables become floating point).

:class:`ProductPolicy` holds one table per player and iterates over them, so
``tuple(policy)`` gives the tables and code written for plain tuples keeps
working. :class:`CorrelatedPolicy` holds one joint table.
:class:`AutoregressivePolicy` holds one conditional table per agent (agent
``m`` sees the actions of agents ``0..m-1``) and iterates over them too.
:func:`as_policy` is the one place where user input (tuples, lists, NumPy or
JAX arrays) becomes a policy.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta._checks import concrete
from marlmeta._sampling import draw

#: Rows of a float64 policy may be off the simplex by this much (absolute);
#: :func:`simplex_tolerance` gives the tolerance of every dtype.
PROB_TOL = 1e-6

#: :func:`simplex_tolerance` by the bit width of the floating dtype.
_TOLERANCES = {64: PROB_TOL, 32: 1e-5, 16: 1e-2}


def simplex_tolerance(dtype) -> float:
    """How far (absolute) an entry may be below 0 and a row's sum off 1.

    ``1e-6`` in float64, ``1e-5`` in float32 (about 80 ulps of 1, what a sum of
    many float32 probabilities drifts by) and ``1e-2`` in float16 and bfloat16;
    the width of the dtype is what counts.

    Example:
        >>> simplex_tolerance(jnp.float32)
        1e-05
    """
    return _TOLERANCES[jnp.finfo(dtype).bits]


def _contract(q: Array, p: Array, axis: int) -> Array:
    """Sum ``q`` over ``axis`` (an action axis) weighted by ``p[s, a]``."""
    shape = [1] * q.ndim
    shape[0], shape[axis] = p.shape
    return jnp.sum(q * p.reshape(shape), axis=axis)


def check_table(
    name: str, p, shape: tuple[int, ...], lead: int, tol: float | None = None
) -> Array:
    """``p``, checked: it has ``shape`` and every distribution over its last
    ``len(shape) - lead`` axes is a probability vector within ``tol`` (default
    :func:`simplex_tolerance` of its dtype).

    A concrete ``p`` that fails raises ``ValueError`` naming the argument, the
    index and the value. A traced ``p`` comes back wrapped in ``eqx.error_if``:
    a negative entry or a row off the simplex raises at run time (under ``jit``
    and ``vmap``); NaN entries pass (they make every result NaN).
    """
    if tuple(p.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(p.shape)}; expected {shape}")
    tol = simplex_tolerance(p.dtype) if tol is None else tol
    c = concrete(p)
    if c is None:
        sums = jnp.sum(p.reshape(*p.shape[:lead], -1), axis=-1)
        bad = jnp.any(p < -tol) | jnp.any(jnp.abs(sums - 1) > tol)
        return eqx.error_if(
            p,
            bad,
            f"{name} has a negative entry or a row off the simplex (tolerance "
            f"{tol:g}); expected a probability table",
        )
    bad = ~np.isfinite(c) | (c < -tol)
    if bad.any():
        idx = _first_index(bad)
        raise ValueError(
            f"{name}{list(idx)} is {c[idx].tolist()!r}; expected a probability"
        )
    sums = c.reshape(*c.shape[:lead], -1).sum(-1)
    off = np.abs(sums - 1) > tol
    if off.any():
        idx = _first_index(off)
        raise ValueError(
            f"{name}{list(idx)} sums to {sums[idx].tolist()!r}; expected 1 "
            f"(tolerance {tol:g})"
        )
    return p


def _float(x) -> Array:
    """An array-like as a JAX floating array (integers become floating point;
    complex tables are a ``ValueError``)."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise ValueError(f"a policy table has dtype {x.dtype}; expected real numbers")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _tables(tables) -> tuple[Array, ...]:
    """Per-player tables (any array-likes) as a tuple of JAX floating arrays."""
    return tuple(_float(p) for p in tables)


def _first_index(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(k) for k in np.unravel_index(int(np.argmax(bad)), bad.shape))


def check_logits(name: str, theta) -> Array:
    """``theta`` (any array-like) as a JAX floating array of logits, checked:
    every entry is finite or ``-inf`` and no row (last axis) is all ``-inf``
    (otherwise its softmax is NaN).

    A concrete ``theta`` that fails raises ``ValueError`` naming the argument,
    the index and the value; a traced one is checked at run time by
    ``eqx.error_if`` (under ``jit`` and ``vmap``).
    """
    t = _float(theta)
    c = concrete(t)
    if c is None:
        bad = jnp.any(jnp.isnan(t) | (t == jnp.inf))
        bad = bad | jnp.any(jnp.all(t == -jnp.inf, axis=-1))
        return eqx.error_if(
            t,
            bad,
            f"{name} has a NaN or +inf logit, or a row of -inf logits; expected "
            "finite logits (or -inf for a zero probability)",
        )
    bad = np.isnan(c) | (c == np.inf)
    if bad.any():
        idx = _first_index(bad)
        raise ValueError(
            f"{name}{list(idx)} is {c[idx].tolist()!r}; expected a finite logit "
            "(or -inf for a zero probability)"
        )
    empty = np.all(c == -np.inf, axis=-1)
    if empty.any():
        idx = _first_index(empty)
        raise ValueError(
            f"{name}{list(idx)} is -inf everywhere; a row needs one finite logit"
        )
    return t


class AbstractPolicy(eqx.Module):
    """A Markov policy of an ``N``-player game (one of the kinds below)."""

    @abc.abstractmethod
    def at(self, h) -> AbstractPolicy:
        """The policy of step ``h`` (indexes the leading axis of every table)."""

    @abc.abstractmethod
    def expect(self, q: Float[Array, " S *A"]) -> Float[Array, " S"]:
        """``E_{a ~ pi(.|s)} q(s, a)``."""

    @abc.abstractmethod
    def expect_others(self, q: Float[Array, " S *A"], i: int) -> Float[Array, "S Ai"]:
        """``E_{a_{-i}} q(s, a_i, a_{-i})``: every player but ``i`` contracted."""

    @abc.abstractmethod
    def joint(self) -> Array:
        """The joint action distribution ``(.., S, A_0, .., A_{N-1})``."""

    @abc.abstractmethod
    def check(
        self, lead: tuple[int, ...], num_actions, name: str = "policy", *, tol=None
    ) -> AbstractPolicy:
        """This policy, checked: a ``ValueError`` unless it has state axes
        ``lead`` and ``num_actions`` (the message names ``name``, the player and
        index); tables as in :func:`check_table` (``tol`` defaults to
        :func:`simplex_tolerance` of each table's dtype)."""

    def sample(self, u: Float[Array, " N"], state) -> Int[Array, " N"]:
        """A joint action ``a ~ pi(. | state)`` of one step's policy (after
        :meth:`at` in a finite-horizon game), ``(N,)`` integers, from ``N``
        independent uniforms ``u`` in ``[0, 1)``.

        Draws one index of the flattened joint distribution (with ``u[0]``);
        kinds with a cheaper factorisation override it.
        """
        joint = self.joint()[state]
        flat = draw(u[0], joint.reshape(-1))
        return jnp.stack(jnp.unravel_index(flat, joint.shape)).astype(jnp.int32)

    @property
    def dtype(self):
        """The floating dtype of the tables."""
        return jnp.result_type(*[x.dtype for x in jax.tree.leaves(self)])

    def on_states(self) -> AbstractPolicy:
        """The same policy as a state-level kind (itself, unless it acts on
        observations), whose deviations are per state."""
        return self

    def deviation_policies(self) -> tuple[ProductPolicy, ...] | None:
        """The policies whose state reach weights a restricted best response
        needs (one per player), or ``None`` when deviations are per state."""
        return None

    def best_choice(
        self, dev: Float[Array, "S Ai"], i: int, weight: Array | None
    ) -> tuple[Array, Array]:
        """Player ``i``'s best deviation at one step from its deviation values
        ``dev[s, a_i]`` (``weight``: its reach weights from
        :meth:`deviation_policies`, unused here).

        Returns:
            ``(value, br)``: the deviation's value per state ``(S,)`` (here
            ``max_a dev[s, a]``) and the deviation as a one-hot table
            ``(S, A_i)`` (lowest index on ties).
        """
        del i, weight
        br = jax.nn.one_hot(jnp.argmax(dev, axis=-1), dev.shape[-1], dtype=dev.dtype)
        return jnp.max(dev, axis=-1), br


class _PerPlayerTables(AbstractPolicy):
    """A policy kind of one table per player; iterating gives the tables.

    Every array it holds (the tables, and an observation kind's maps) has the
    step axis first, so :meth:`at` indexes each of them.
    """

    tables: eqx.AbstractVar[tuple[Array, ...]]

    def __iter__(self) -> Iterator[Array]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def __getitem__(self, i):
        return self.tables[i]

    def at(self, h):
        return jax.tree.map(lambda x: x[h], self)

    def _check_count(self, num_actions, name: str, what: str) -> None:
        if len(self.tables) != len(num_actions):
            raise ValueError(
                f"{name} has {len(self.tables)} {what}; the game has "
                f"{len(num_actions)} players"
            )


class ProductPolicy(_PerPlayerTables):
    """Independent (product) Markov policy: player ``i`` plays ``tables[i]``.

    ``tables[i]`` has shape ``(H, S, A_i)`` (finite horizon) or ``(S, A_i)``
    (discounted). Iterating gives the tables, so ``tuple(policy)`` and
    ``policy[i]`` work as for a plain tuple.
    """

    tables: tuple[Float[Array, "*lead Ai"], ...] = eqx.field(converter=_tables)

    def expect(self, q):
        # Contracting in reverse order never moves the axes still to come.
        for j in reversed(range(len(self.tables))):
            q = _contract(q, self.tables[j], 1 + j)
        return q

    def expect_others(self, q, i: int):
        for j in reversed(range(len(self.tables))):
            if j != i:
                q = _contract(q, self.tables[j], 1 + j)
        return q

    def sample(self, u, state):
        """Every player draws from its own row ``tables[i][state]`` (``u[i]``)."""
        return jnp.stack([draw(u[i], p[state]) for i, p in enumerate(self.tables)])

    def joint(self) -> Array:
        out = self.tables[0]
        for p in self.tables[1:]:
            ones = (1,) * (out.ndim - p.ndim + 1)
            out = out[..., None] * p.reshape(p.shape[:-1] + ones + p.shape[-1:])
        return out

    def check(self, lead, num_actions, name: str = "policy", *, tol=None):
        self._check_count(num_actions, name, "per-player tables")
        return ProductPolicy(
            tuple(
                check_table(f"{name}[{i}]", p, (*lead, a), len(lead), tol)
                for i, (p, a) in enumerate(zip(self.tables, num_actions, strict=True))
            )
        )


class CorrelatedPolicy(AbstractPolicy):
    """Markov correlated policy: one joint table ``(H, S, A_0, .., A_{N-1})``
    (or ``(S, ..)``); the deviations it admits are the coarse-correlated ones."""

    table: Float[Array, "*lead *A"] = eqx.field(converter=_float)

    def at(self, h) -> CorrelatedPolicy:
        return CorrelatedPolicy(self.table[h])

    def expect(self, q):
        return jnp.sum(q * self.table, axis=tuple(range(1, q.ndim)))

    def expect_others(self, q, i: int):
        m = jnp.sum(self.table, axis=1 + i, keepdims=True)
        axes = tuple(a for a in range(1, q.ndim) if a != 1 + i)
        return jnp.sum(q * m, axis=axes)

    def joint(self) -> Array:
        return self.table

    def check(self, lead, num_actions, name: str = "policy", *, tol=None):
        shape = (*lead, *num_actions)
        return CorrelatedPolicy(check_table(name, self.table, shape, len(lead), tol))


class AutoregressivePolicy(_PerPlayerTables):
    """Autoregressive (sequential) Markov policy:
    ``pi(a|s) = prod_m pi^m(a_m | s, a_0, .., a_{m-1})``.

    ``tables[m]`` has shape ``(*lead, A_0, .., A_m)`` and sums to 1 over its
    last axis, as in Zhao, Yang, Wang, Lee, "Local Optimization Achieves Global
    Optimality in Multi-Agent Reinforcement Learning" (ICML 2023). Its joint is a
    Markov correlated policy; its deviations are the coarse-correlated ones of
    that joint. A product policy is the special case whose tables do not depend
    on the prefix. Iterating gives the tables.
    """

    tables: tuple[Float[Array, "*lead Am"], ...] = eqx.field(converter=_tables)

    def localized(self, q: Float[Array, " S *A"]) -> tuple[Array, ...]:
        """``(E_{a_{>m} ~ pi(.|s, a_{<=m})} q(s, a))_m``: entry ``m`` has shape
        ``(S, A_0, .., A_m)``; the last entry is ``q`` itself.

        ``q^{1:m} = sum_{a_m} pi^m(a_m | s, a_{<m}) q^{1:m+1}``, contracting the
        last agent first (Def. 3.1 of Zhao et al. with conditional policies).
        """
        out = [q]
        for p in reversed(self.tables[1:]):
            out.append(jnp.sum(out[-1] * p, axis=-1))
        return tuple(reversed(out))

    def expect(self, q):
        return jnp.sum(self.localized(q)[0] * self.tables[0], axis=-1)

    def sample(self, u, state):
        """Agent ``m`` draws from ``tables[m][state, a_0, .., a_{m-1}]`` in turn
        (``u[m]``)."""
        acts = []
        for m, p in enumerate(self.tables):
            acts.append(draw(u[m], p[(state, *acts)]))
        return jnp.stack(acts)

    def expect_others(self, q, i: int):
        return CorrelatedPolicy(self.joint()).expect_others(q, i)

    def joint(self) -> Array:
        out = self.tables[0]
        for p in self.tables[1:]:
            out = out[..., None] * p
        return out

    def check(self, lead, num_actions, name: str = "policy", *, tol=None):
        self._check_count(num_actions, name, "autoregressive tables")
        checked = []
        for m, p in enumerate(self.tables):
            shape = (*lead, *num_actions[: m + 1])
            checked.append(check_table(f"{name}[{m}]", p, shape, len(lead) + m, tol))
        return AutoregressivePolicy(tuple(checked))


def as_policy(policy) -> AbstractPolicy:
    """User input as a policy kind; the one conversion at the public boundary.

    A policy kind is returned as it is; a tuple or list is a product policy (one
    table per player, each any array-like); anything else (a JAX or NumPy
    array, nested lists wrapped in ``np.asarray``) is a Markov correlated
    policy. Integer tables become floating point.
    """
    if isinstance(policy, AbstractPolicy):
        return policy
    if isinstance(policy, tuple | list):
        return ProductPolicy(policy)
    return CorrelatedPolicy(policy)


def as_product(policy, name: str = "policy") -> ProductPolicy:
    """:func:`as_policy` for functions defined on product policies only."""
    out = as_policy(policy)
    if not isinstance(out, ProductPolicy):
        raise ValueError(
            f"{name} is a {type(out).__name__}; expected a product policy "
            "(one table per player)"
        )
    return out
