"""The solver protocol: ``init`` / ``step`` / ``output`` (and meta statistics).

A solver is an ``eqx.Module`` of hyperparameters; numeric ones are array leaves
(vmappable, differentiable), structure is static. The game is always an
argument, so one solver serves a whole batch of games under ``vmap``. The
caller owns ``jit``: :func:`marlmeta.solve` and :func:`marlmeta.solve_batch` are
the compiled entry points.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx

from marlmeta.games import AbstractMarkovGame


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
