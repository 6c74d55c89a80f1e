"""The best-response slack ``eta_h`` of the aggregative planners, as strategy objects.

Step 1 of the normal-form subroutine of Cummings, Kearns, Roth, Wu, "Privacy
and Truthful Equilibrium Selection for Aggregative Games" (WINE 2015), as used
by Tang, Tang, Wu, "Provably Efficient Reinforcement Learning for Large
Aggregative Markov Games", keeps the approximate best responses
``BA_i(x̂) = {a : u_i(a, x̂) >= max_a' u_i(a', x̂) - eta_h}``. A rule picks
``eta_h`` at each step ``h`` given a function that solves all linear programs
of the step at a slack; it is pure and traceable (bounded loops only), so a
planner that holds one can be vmapped over a family of games.

- :class:`TheoryEta`: the theory value ``eta_h = L_h (zeta + 2 alpha + delta)``
  (Azrieli and Shmaya's existence term ``zeta``), at which a feasible grid point
  exists in every state;
- :class:`FixedEta`: a given number, or one per step;
- :class:`SmallestEta`: the smallest slack, found by bisection on
  ``[0, theory]``, that keeps every state feasible (feasibility is monotone in
  ``eta``), which tightens the certificate ``sum_h eps_h``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from marlmeta._checks import concrete, fmt_value
from marlmeta.lp import Status


class StageLPs(eqx.Module):
    """The linear programs of one step at one slack (``S`` states, ``G`` points).

    Attributes:
        status: ``(S, G)`` :class:`~marlmeta.lp.Status` codes.
        p: ``(S, G, n, m)`` the vertices (base actions where infeasible).
        objective: ``(S, G)`` welfare plus continuation welfare.
        iterations: the largest pivot count of the step's LPs so far.
        exhausted: ``(S,)`` LPs so far that ran out of their pivot budget.
    """

    status: Int[Array, "S G"]
    p: Float[Array, "S G n m"]
    objective: Float[Array, "S G"]
    iterations: Int[Array, ""]
    exhausted: Int[Array, " S"]

    def feasible(self) -> Bool[Array, " S"]:
        """Whether some grid point is feasible in each state."""
        return jnp.any(self.status == Status.OPTIMAL, 1)


#: ``solve(eta) -> StageLPs``: every LP of one step at slack ``eta``.
StageSolver = Callable[[Float[Array, ""]], StageLPs]


class AbstractEtaRule(eqx.Module):
    """How a planner picks the best-response slack ``eta_h`` of each step."""

    @abc.abstractmethod
    def select(
        self, solve: StageSolver, theory: Float[Array, " H"], h: Int[Array, ""]
    ) -> tuple[Float[Array, ""], StageLPs]:
        """The slack of step ``h`` and its linear programs.

        Args:
            solve: every LP of step ``h`` at a given slack.
            theory: ``(H,)`` the theory slacks ``L_h (zeta + 2 alpha + delta)``.
            h: the step.
        """


class TheoryEta(AbstractEtaRule):
    """``eta_h = L_h (zeta + 2 alpha + delta)``, the slack of the theorems."""

    def select(self, solve, theory, h):
        """The theory slack of step ``h`` and its LPs."""
        eta = theory[h]
        return eta, solve(eta)


class FixedEta(AbstractEtaRule):
    """A given slack: one number for every step, or ``(H,)``.

    Attributes:
        eta: ``()`` or ``(H,)``, finite and ``>= 0`` (an array leaf).
    """

    eta: Float[Array, "*H"]

    def __init__(self, eta):
        """Raises ``ValueError`` naming the index of a negative or non-finite
        entry (NumPy arrays and lists accepted)."""
        e = jnp.asarray(eta)
        if not jnp.issubdtype(e.dtype, jnp.floating):
            e = e.astype(jnp.result_type(float))
        c = concrete(e)
        if c is not None:
            if c.ndim > 1:
                raise ValueError(f"eta has shape {c.shape}; expected () or (H,)")
            flat = c.reshape(-1)
            bad = ~np.isfinite(flat) | (flat < 0)
            if bad.any():
                h = int(np.argmax(bad))
                raise ValueError(
                    f"eta[{h}] is {fmt_value(flat[h])}; expected a finite number >= 0"
                )
        self.eta = e

    def select(self, solve, theory, h):
        """The given slack of step ``h`` and its LPs."""
        if self.eta.ndim and self.eta.shape != theory.shape:
            raise ValueError(
                f"eta has shape {self.eta.shape}; expected () or (H,) = {theory.shape}"
            )
        eta = jnp.broadcast_to(self.eta.astype(theory.dtype), theory.shape)[h]
        return eta, solve(eta)


class SmallestEta(AbstractEtaRule):
    """The smallest slack that keeps every state feasible, by bisection.

    Starting from the theory slack (feasible by the existence theorem), each of
    ``bisection_steps`` halvings solves the step's LPs at the midpoint ``mid``
    of ``[lo, hi]`` (initially ``[0, theory]``) and sets ``hi = mid`` when
    every state has a feasible grid point, ``lo = mid`` otherwise; the output
    is ``hi`` and its LPs. When the theory slack itself is infeasible in some
    state (only possible for a grid coarser than the theory assumes) the
    theory slack is kept and the planner's result flags the state.

    Attributes:
        bisection_steps: the halvings (static).
    """

    bisection_steps: int = eqx.field(static=True, default=16)

    def select(self, solve, theory, h):
        """The bisected slack of step ``h`` and its LPs."""
        eta0 = theory[h]
        first = solve(eta0)

        def halve(_, carry):
            lo, hi, best, iterations, exhausted = carry
            mid = 0.5 * (lo + hi)
            trial = solve(mid)
            ok = jnp.all(trial.feasible())
            best = jax.tree.map(lambda a, b: jnp.where(ok, a, b), trial, best)
            return (
                jnp.where(ok, lo, mid),
                jnp.where(ok, mid, hi),
                best,
                jnp.maximum(iterations, trial.iterations),
                exhausted + trial.exhausted,
            )

        init = (jnp.zeros_like(eta0), eta0, first, first.iterations, first.exhausted)
        _, hi, best, iterations, exhausted = jax.lax.fori_loop(
            0, self.bisection_steps, halve, init
        )
        best = eqx.tree_at(
            lambda b: (b.iterations, b.exhausted), best, (iterations, exhausted)
        )
        run = jnp.all(first.feasible())
        chosen = jax.tree.map(lambda a, b: jnp.where(run, a, b), best, first)
        return jnp.where(run, hi, eta0), chosen
