"""The solver protocol: ``init`` / ``step`` / ``output`` (and meta statistics).

A solver is an ``eqx.Module`` of hyperparameters; numeric ones are array leaves
(vmappable, differentiable), structure is static. The game is always an
argument, so one solver serves a whole batch of games under ``vmap``. The
caller owns ``jit``: :func:`marlmeta.solve` and :func:`marlmeta.solve_batch` are
the compiled entry points.
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from marlmeta.games import AbstractMarkovGame


def as_hyperparameter(name: str, value) -> jax.Array:
    """``value`` as a JAX array; a ``ValueError`` naming ``name`` when it is not
    numbers (a string, say), which :func:`check_hyperparameter` then checks."""
    try:
        return jnp.asarray(value)
    except (TypeError, ValueError):  # JAX refuses None with a ValueError
        raise ValueError(f"{name} is {value!r}; expected a number") from None


def hyperparameter(name: str, **kwargs):
    """A numeric hyperparameter field (``eqx.field`` keyword arguments such as
    ``default``): stored as a JAX array leaf (:func:`as_hyperparameter`)."""
    return eqx.field(converter=functools.partial(as_hyperparameter, name), **kwargs)


def check_hyperparameter(name: str, value, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless every entry of ``value`` is finite and ``> 0``
    (``>= 0`` with ``allow_zero``).

    ``value`` may be a Python number, a NumPy or JAX scalar or array (a batch of
    hyperparameters, one per game in ``solve_batch(..., batch_solver=True)``),
    or ``None`` (nothing to check); a tracer is skipped. The message names the
    argument, the index of the first bad entry of an array, and its value.

    Example:
        >>> check_hyperparameter("step_size", [0.1, -0.2])
        Traceback (most recent call last):
        ...
        ValueError: step_size[1] is -0.2; expected a finite number > 0
    """
    if value is None or isinstance(value, jax.core.Tracer):
        return
    x = np.asarray(value)
    bound = ">= 0" if allow_zero else "> 0"
    if x.dtype.kind not in "iuf":
        raise ValueError(f"{name} is {value!r}; expected a finite number {bound}")
    bad = ~np.isfinite(x) | ((x < 0) if allow_zero else (x <= 0))
    if bad.any():
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), x.shape))
        where = f"{name}{list(idx)}" if idx else name
        raise ValueError(f"{where} is {x[idx]!s}; expected a finite number {bound}")


class AbstractSolver(eqx.Module):
    """A learning dynamic on one game."""

    @abc.abstractmethod
    def default_init(self, game: AbstractMarkovGame, num_steps: int) -> Any:
        """The initial-policy argument of :meth:`init` for a run of ``num_steps``
        iterations when the user gives none (uniform play)."""

    @abc.abstractmethod
    def init(self, game: AbstractMarkovGame, init_policy) -> Any:
        """The solver state before the first iteration."""

    @abc.abstractmethod
    def step(self, game: AbstractMarkovGame, state) -> Any:
        """One iteration; pure."""

    @abc.abstractmethod
    def output(self, game: AbstractMarkovGame, state):
        """The output policy after the iterations so far."""

    def diagnostics(self, game: AbstractMarkovGame, state) -> Any:
        """Per-checkpoint quantities only the state knows (e.g. an online gap
        bound); traced by :func:`marlmeta.solve` beside the metric."""
        del game, state
        return None

    def stats(self, game: AbstractMarkovGame, state) -> Any:
        """Statistics the meta-learner needs (e.g. stage best responses).

        Shaped like the ``init_policy`` argument of :meth:`init`, so that a
        meta-update can turn them into the next game's initialisation.
        """
        del game, state
        return None
