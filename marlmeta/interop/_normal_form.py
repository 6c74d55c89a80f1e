"""Normal-form games in and out: payoff tables to a one-state game and back.

A normal-form game of ``N`` players is one payoff table per player,
``payoffs[i][a_0, .., a_{N-1}]``; marlmeta stores it as a finite-horizon game
with one state and one step (:func:`marlmeta.games.matrix_game`), whose
``rewards[i, 0, 0]`` is ``payoffs[i]``. The layout is the one of other
libraries' bimatrix games: nashpy's ``Game(A, B)`` keeps ``payoff_matrices =
(A, B)`` with the row player's payoff ``A[a_0, a_1]`` and the column player's
``B[a_0, a_1]`` (Knight and Campbell, "Nashpy: A Python library for the
computation of Nash equilibria"), and Gambit's ``Game.from_arrays(A, B)``
(McKelvey, McLennan and Turocy, "Gambit: Software Tools for Game Theory") the
same, so ``from_normal_form(nashpy_game.payoff_matrices)`` and
``nashpy.Game(*to_normal_form(game))`` convert without copying by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from marlmeta._checks import check_values, real_array
from marlmeta.games import AbstractMarkovGame, FiniteHorizonGame, matrix_game


def from_normal_form(payoffs: Sequence | np.ndarray) -> FiniteHorizonGame:
    """A one-state, one-step game from per-player payoff tables.

    Args:
        payoffs: ``N`` tables of one shape ``(A_0, .., A_{N-1})`` (a bimatrix
            ``(A, B)``, e.g. nashpy's ``payoff_matrices``), or one array
            ``(N, A_0, .., A_{N-1})``. Integers become the default float dtype;
            float32 and float64 are kept.

    Returns:
        The game of :func:`marlmeta.games.matrix_game` (zero-sum and
        identical-interest tables are stored compactly).

    Raises:
        ValueError: tables of different shapes, a number of tables that is not
            the number of action axes, or a non-finite payoff, naming the
            player and the index.

    Example:
        >>> from marlmeta.interop import from_normal_form
        >>> A = [[3, 0], [5, 1]]
        >>> B = [[3, 5], [0, 1]]
        >>> from_normal_form((A, B)).num_actions
        (2, 2)
    """
    if isinstance(payoffs, str | bytes) or not hasattr(payoffs, "__len__"):
        raise ValueError(
            f"payoffs is {payoffs!r:.60}; expected N payoff tables (A_0, .., A_(N-1))"
        )
    tables = [real_array(f"payoffs[{i}]", p) for i, p in enumerate(payoffs)]
    if not tables:
        raise ValueError("payoffs is empty; expected N payoff tables")
    shape = tuple(tables[0].shape)
    for i, t in enumerate(tables):
        check_values(f"payoffs[{i}]", t)
        if tuple(t.shape) != shape:
            raise ValueError(
                f"payoffs[{i}] has shape {tuple(t.shape)}; expected {shape} "
                "(the shape of payoffs[0]: one action axis a player)"
            )
    if len(shape) != len(tables):
        raise ValueError(
            f"payoffs has {len(tables)} tables of shape {shape}; expected one "
            f"table a player, each with one action axis a player ({len(tables)})"
        )
    dtype = np.result_type(*[t.dtype for t in tables])
    return matrix_game(np.stack([np.asarray(t, dtype) for t in tables]))


def to_normal_form(game: AbstractMarkovGame) -> tuple[np.ndarray, ...]:
    """The payoff tables of a one-state, one-step game.

    Args:
        game: one finite-horizon game with ``horizon == 1`` and one state.

    Returns:
        ``N`` NumPy tables ``(A_0, .., A_{N-1})``, player ``i``'s payoff at
        ``[i]``: for two players ``(A, B)``, ready for ``nashpy.Game(A, B)``
        or ``pygambit.Game.from_arrays(A, B)``.

    Raises:
        ValueError: a batch, a discounted game, or a game with more than one
            state or step (it is not a normal-form game).
    """
    game.require_finite_horizon("to_normal_form")
    game.require_one_game("to_normal_form")
    if game.horizon != 1 or game.num_states != 1:
        raise ValueError(
            f"game has horizon {game.horizon} and {game.num_states} states; "
            "to_normal_form needs a normal-form game (horizon 1, one state)"
        )
    return tuple(np.asarray(game.rewards[:, 0, 0]))
