"""Transition kernels behind one interface: ``expectation(h, V)``.

Evaluation and every solver see transitions only through
``expectation(h, V)``: the expected next value ``sum_{s'} P_h(s'|s, a) V(s')`` for
every state ``s`` and joint action ``a``. Three representations implement it:

- :class:`DenseTransitions`: the full array ``P[h, s, a_0, .., a_{N-1}, s']``;
- :class:`SparseTransitions`: a fixed fan-out ``K`` of successors per
  ``(h, s, a)``, so that games with very many states fit in memory;
- :class:`FactoredTransitions`: every player moves its own local state,
  ``P(s'|s, a) = prod_i P_i(s'_i | s_i, a_i)`` (as in the linear-quadratic
  game of Mao, Qiu, Wang et al., NeurIPS 2023, appendix F.3).

A kernel has a time axis of length ``H`` (time-inhomogeneous) or ``1``
(time-homogeneous, shared by all steps; discounted games always use ``1``).

Every kernel checks itself at construction: real probabilities always,
integer successor indices always, and, on concrete arrays, rows on the simplex
(within :func:`~marlmeta._checks.prob_tol` of the dtype) and successors in
range; a ``ValueError`` names the array, the index and the value. Sizes
(``num_steps``, ``num_states``, ``num_actions``) are those of one kernel; a batch
of kernels is read under ``jax.vmap``.
"""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from marlmeta._checks import (
    array_dtype,
    check_distributions,
    check_index_range,
    check_trailing,
    concrete,
    count,
    fmt_value,
    real_array,
    unravel,
)
from marlmeta._sampling import draw

#: Fan-outs up to this are summed by unrolled adds, longer ones by a loop.
_UNROLL = 16


class AbstractTransitions(eqx.Module):
    """A transition kernel ``P_h(s' | s, a_0, .., a_{N-1})``."""

    @property
    @abc.abstractmethod
    def num_steps(self) -> int:
        """Length of the time axis: ``H``, or ``1`` when shared by all steps."""

    @property
    @abc.abstractmethod
    def num_states(self) -> int:
        """Number of states ``S``."""

    @property
    @abc.abstractmethod
    def num_actions(self) -> tuple[int, ...]:
        """Per-player action counts ``(A_0, .., A_{N-1})``."""

    @abc.abstractmethod
    def _expectation(self, h, value: Float[Array, " S"]) -> Float[Array, " S *A"]:
        """``expectation`` with ``h`` already mapped onto the time axis."""

    @abc.abstractmethod
    def dense(self) -> Float[Array, "T S *A S"]:
        """The kernel as one dense array ``(num_steps, S, A_0, .., A_{N-1}, S)``."""

    @abc.abstractmethod
    def check_shapes(
        self, num_steps: tuple[int, ...], num_states: int, num_actions: tuple[int, ...]
    ) -> None:
        """Raise ``ValueError`` unless the kernel's shapes fit a game's sizes.

        Reads the trailing axes (static shapes), so it holds under ``jit`` and
        for a batch of kernels.

        Args:
            num_steps: the admissible lengths of the time axis.
            num_states: ``S``.
            num_actions: ``(A_0, .., A_{N-1})``.
        """

    def with_time_axis(self, num_players: int) -> AbstractTransitions:
        """This kernel with its time axis (only a dense array may omit it)."""
        del num_players
        return self

    def validate(
        self, num_steps: tuple[int, ...], num_states: int, num_actions: tuple[int, ...]
    ) -> AbstractTransitions:
        """This kernel (with its time axis), checked against a game's sizes.

        The values were checked when the kernel was built; this checks the
        shapes, which are static, so a kernel validated under ``jit`` is the
        one validated eagerly.

        Args:
            num_steps: the admissible lengths of the time axis.
            num_states: ``S``.
            num_actions: ``(A_0, .., A_{N-1})``.

        Raises:
            ValueError: naming the array and the shapes.
        """
        out = self.with_time_axis(len(num_actions))
        out.check_shapes(num_steps, num_states, tuple(num_actions))
        return out

    def expectation(self, h, value: Float[Array, " S"]) -> Float[Array, " S *A"]:
        """Expected next value for every state and joint action.

        Args:
            h: the step (an int or a traced integer); ignored by a
                time-homogeneous kernel.
            value: ``V(s')``, shape ``(S,)``.

        Returns:
            ``sum_{s'} P_h(s'|s, a) V(s')``, shape ``(S, A_0, .., A_{N-1})``.
        """
        return self._expectation(0 if self.num_steps == 1 else h, value)

    def sample(
        self, u: Float[Array, " N"], h, state, actions: Int[Array, " N"]
    ) -> Int[Array, ""]:
        """One successor ``s' ~ P_h(. | state, actions)`` (simulation).

        Args:
            u: ``N`` independent uniforms in ``[0, 1)`` (a kernel uses as many
                as it needs).
            h: the step (ignored by a time-homogeneous kernel).
            state: the current state (an integer scalar).
            actions: the joint action, ``(N,)`` integers.
        """
        return self._sample(u, 0 if self.num_steps == 1 else h, state, actions)

    @abc.abstractmethod
    def _sample(self, u, h, state, actions) -> Int[Array, ""]:
        """``sample`` with ``h`` already mapped onto the time axis."""

    def propagate(self, h, mass: Float[Array, " S *A"]) -> Float[Array, " S"]:
        """Forward (adjoint) step: ``sum_{s, a} mass(s, a) P_h(s'|s, a)``.

        The transpose of the linear map :meth:`expectation`, so every kernel
        kind gets it exactly (a scatter-add for sparse kernels).
        """
        zero = jnp.zeros(self.num_states, mass.dtype)
        (out,) = jax.linear_transpose(lambda v: self.expectation(h, v), zero)(mass)
        return out

    def successor_probs(
        self, h, state, actions: Int[Array, " N"]
    ) -> Float[Array, " S"]:
        """The row ``P_h(. | state, actions)``, ``(S,)``, of every kernel kind.

        :meth:`propagate` of the one-hot mass at ``(state, actions)``: exact
        (every other term of the sum is an exact zero), and nothing of size
        ``S x S`` is formed.
        """
        probe = jnp.zeros(self.num_states, jnp.float32)
        out = jax.eval_shape(lambda: self.expectation(h, probe))
        index = (state, *(actions[i] for i in range(len(out.shape) - 1)))
        mass = jnp.zeros(out.shape, out.dtype).at[index].set(1)
        return self.propagate(h, mass)

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """The kernel as NumPy successor lists ``(next_state, prob)``, each
        ``(num_steps, S, A_0, .., A_{N-1}, K)`` (dense kernels: ``K = S``)."""
        p = np.asarray(self.dense())
        nxt = np.broadcast_to(np.arange(p.shape[-1], dtype=np.int32), p.shape)
        return nxt, p


class DenseTransitions(AbstractTransitions):
    """Dense kernel ``probs[t, s, a_0, .., a_{N-1}, s']``."""

    probs: Float[Array, "T S *A S"]

    def __init__(self, probs):
        self.probs = real_array("transitions", probs)

    def __check_init__(self):
        if self.probs.ndim < 3:
            raise ValueError(
                f"transitions has shape {self.probs.shape}; expected "
                "(T, S, A_0, .., A_(N-1), S)"
            )
        check_distributions("transitions", self.probs)

    @property
    def num_steps(self) -> int:
        return self.probs.shape[0]

    @property
    def num_states(self) -> int:
        return self.probs.shape[-1]

    @property
    def num_actions(self) -> tuple[int, ...]:
        return tuple(self.probs.shape[2:-1])

    def _expectation(self, h, value):
        return self.probs[h] @ value

    def dense(self):
        return self.probs

    def _sample(self, u, h, state, actions):
        return draw(u[0], self.probs[(h, state, *actions)])

    def with_time_axis(self, num_players):
        if self.probs.ndim == num_players + 2:  # (S, *A, S): time-homogeneous
            return DenseTransitions(self.probs[None])
        return self

    def check_shapes(self, num_steps, num_states, num_actions):
        n = len(num_actions)
        steps = self.probs.shape[-(n + 3)] if self.probs.ndim >= n + 3 else None
        t = steps if steps in num_steps else num_steps[0]
        check_trailing(
            "transitions",
            self.probs.shape,
            (t, num_states, *num_actions, num_states),
            "the rewards",
        )


class SparseTransitions(AbstractTransitions):
    """Fixed fan-out kernel: ``K`` successors per ``(t, s, a)``.

    ``P_t(next_state[t, s, a, k] | s, a) = prob[t, s, a, k]``; repeated
    successors add up. Memory is ``O(H S prod(A) K)`` instead of
    ``O(H S^2 prod(A))``.
    """

    next_state: Int[Array, "T S *A K"]
    prob: Float[Array, "T S *A K"]
    num_states_: int = eqx.field(static=True)

    def __init__(self, next_state, prob, num_states: int | None = None):
        """``num_states`` defaults to the state axis of one kernel,
        ``next_state.shape[1]`` (give it for a batch)."""
        if array_dtype("transitions.next_state", next_state).kind not in "iu":
            real_array("transitions.next_state", next_state)  # names a bad value
            nxt = concrete(next_state)
            if nxt is None:
                raise ValueError(
                    f"transitions.next_state has dtype {next_state.dtype}; "
                    "expected integer state indices"
                )
            frac = nxt != np.round(nxt)
            idx = unravel(int(np.argmax(frac)), nxt.shape) if nxt.ndim else ()
            raise ValueError(
                f"transitions.next_state{list(idx)} is {fmt_value(nxt[idx])} "
                f"(dtype {nxt.dtype}); expected integer state indices"
            )
        self.next_state = jnp.asarray(next_state, dtype=jnp.int32)
        self.prob = real_array("transitions.prob", prob)
        self.num_states_ = count(
            "num_states",
            self.next_state.shape[1] if num_states is None else num_states,
        )

    def __check_init__(self):
        if self.next_state.shape != self.prob.shape or self.prob.ndim < 4:
            raise ValueError(
                f"transitions.next_state has shape {self.next_state.shape} and "
                f"transitions.prob {self.prob.shape}; expected one shape "
                "(T, S, A_0, .., A_(N-1), K)"
            )
        nxt = concrete(self.next_state)
        if nxt is not None:
            check_index_range(
                "transitions.next_state", nxt, self.num_states_, "a state"
            )
        check_distributions("transitions.prob", self.prob)

    @property
    def num_steps(self) -> int:
        return self.prob.shape[0]

    @property
    def num_states(self) -> int:
        return self.num_states_

    @property
    def num_actions(self) -> tuple[int, ...]:
        return tuple(self.prob.shape[2:-1])

    def _expectation(self, h, value):
        # The K terms are added one after another, in order: the result is then
        # the same bits whatever the batch it is vmapped over (a reduction over
        # a minor axis is vectorised differently for different batch sizes).
        prob, nxt = self.prob[h], self.next_state[h]
        out = prob[..., 0] * value[nxt[..., 0]]
        if prob.shape[-1] <= _UNROLL:
            for k in range(1, prob.shape[-1]):
                out = out + prob[..., k] * value[nxt[..., k]]
            return out

        def add(k, acc):
            return acc + prob[..., k] * value[nxt[..., k]]

        return jax.lax.fori_loop(1, prob.shape[-1], add, out)

    def dense(self):
        one_hot = self.next_state[..., None] == jnp.arange(self.num_states)
        return jnp.sum(self.prob[..., None] * one_hot, axis=-2)

    def support(self):
        return np.asarray(self.next_state), np.asarray(self.prob)

    def _sample(self, u, h, state, actions):
        row = (h, state, *actions)
        return self.next_state[row][draw(u[0], self.prob[row])]

    def check_shapes(self, num_steps, num_states, num_actions):
        if self.num_states_ != num_states:
            raise ValueError(
                f"transitions has {self.num_states_} states; expected "
                f"{num_states} to agree with the rewards"
            )
        n = len(num_actions)
        steps = self.prob.shape[-(n + 3)] if self.prob.ndim >= n + 3 else None
        t = steps if steps in num_steps else num_steps[0]
        check_trailing(
            "transitions.prob",
            self.prob.shape,
            (t, num_states, *num_actions, self.prob.shape[-1]),
            "the rewards",
        )


class FactoredTransitions(AbstractTransitions):
    """Product kernel: player ``i`` moves its local state with ``local[i]``.

    ``local[i]`` has shape ``(T, S_i, A_i, S_i)``. The global state is the
    row-major index of ``(s_0, .., s_{N-1})``, so ``S = prod_i S_i``, and
    ``P(s'|s, a) = prod_i local[i][t, s_i, a_i, s'_i]``. The expectation
    contracts one player's local axis at a time and never forms the ``S x S``
    kernel.
    """

    local: tuple[Float[Array, "T Si Ai Si"], ...]

    def __init__(self, local):
        self.local = tuple(
            real_array(f"transitions.local[{i}]", x) for i, x in enumerate(local)
        )

    def __check_init__(self):
        if not self.local:
            raise ValueError("transitions.local is empty; expected one kernel a player")
        for i, p in enumerate(self.local):
            if p.ndim < 4 or p.shape[-3] != p.shape[-1]:
                raise ValueError(
                    f"transitions.local[{i}] has shape {p.shape}; expected "
                    "(T, S_i, A_i, S_i)"
                )
            check_distributions(f"transitions.local[{i}]", p)

    @property
    def num_steps(self) -> int:
        return self.local[0].shape[-4]

    @property
    def local_states(self) -> tuple[int, ...]:
        return tuple(p.shape[-3] for p in self.local)

    @property
    def num_states(self) -> int:
        return math.prod(self.local_states)

    @property
    def num_actions(self) -> tuple[int, ...]:
        return tuple(p.shape[-2] for p in self.local)

    def _expectation(self, h, value):
        n = len(self.local)
        v = value.reshape(self.local_states)
        # After contracting player i, its next-state axis is replaced by the
        # pair (s_i, a_i), appended at the end; the remaining next-state axes
        # stay in front, so the next player to contract is always axis 0.
        for p in self.local:
            v = jnp.tensordot(v, p[h], axes=([0], [2]))
        # v axes: (s_0, a_0, s_1, a_1, ..)
        order = [2 * i for i in range(n)] + [2 * i + 1 for i in range(n)]
        v = jnp.transpose(v, order)
        return v.reshape((self.num_states, *self.num_actions))

    def _sample(self, u, h, state, actions):
        """Player ``i``'s local state moves with ``u[i]``."""
        local = jnp.unravel_index(state, self.local_states)
        nxt = [
            draw(u[i], p[h, s, actions[i]])
            for i, (p, s) in enumerate(zip(self.local, local, strict=True))
        ]
        return jnp.ravel_multi_index(tuple(nxt), self.local_states, mode="clip")

    def dense(self):
        n = len(self.local)
        out = self.local[0]  # (T, s0, a0, s0')
        for p in self.local[1:]:
            p = p.reshape(p.shape[:1] + (1,) * (out.ndim - 1) + p.shape[1:])
            out = out[..., None, None, None] * p
        # axes: (T, s0, a0, s0', s1, a1, s1', ...)
        order = (
            [0]
            + [1 + 3 * i for i in range(n)]
            + [2 + 3 * i for i in range(n)]
            + [3 + 3 * i for i in range(n)]
        )
        out = jnp.transpose(out, order)
        t = out.shape[0]
        return out.reshape((t, self.num_states, *self.num_actions, self.num_states))

    def check_shapes(self, num_steps, num_states, num_actions):
        if len(self.local) != len(num_actions):
            raise ValueError(
                f"transitions has {len(self.local)} local kernels; expected one "
                f"for each of the {len(num_actions)} players"
            )
        if self.num_states != num_states:
            raise ValueError(
                f"transitions has {self.num_states} states in all; "
                f"expected {num_states} to agree with the rewards"
            )
        for i, p in enumerate(self.local):
            t = p.shape[-4] if p.shape[-4] in num_steps else num_steps[0]
            s_i = p.shape[-3]
            check_trailing(
                f"transitions.local[{i}]",
                p.shape,
                (t, s_i, num_actions[i], s_i),
                "the rewards",
            )
