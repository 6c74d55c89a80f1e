"""OpenSpiel's normal-form games in and out (optional: ``marlmeta[openspiel]``).

OpenSpiel (Lanctot, Lockhart, Lespiau et al., "OpenSpiel: A Framework for
Reinforcement Learning in Games") represents a normal-form game as a
``pyspiel.NormalFormGame`` (``MatrixGame`` for two players, ``TensorGame`` for
more): one simultaneous move, then player ``i`` receives
``payoffs[i][a_0, .., a_{N-1}]``. :func:`from_openspiel` reads those tables
into the one-state, one-step game of :func:`marlmeta.interop.from_normal_form`;
:func:`to_openspiel` builds the OpenSpiel game of a marlmeta normal-form game.
Sequential games (with chance, turns and information states) are converted by
:func:`marlmeta.interop.from_openspiel_tree`.

``open_spiel`` is imported when these functions are called, so marlmeta does
not depend on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marlmeta.games import AbstractMarkovGame, FiniteHorizonGame
from marlmeta.interop._normal_form import from_normal_form, to_normal_form


def _pyspiel():
    try:
        import pyspiel
    except ImportError as err:
        raise ImportError(
            "converting OpenSpiel games needs open_spiel: pip install "
            "'marlmeta[openspiel]'"
        ) from err
    return pyspiel


def from_openspiel_normal_form(game: Any) -> FiniteHorizonGame:
    """A marlmeta one-state game from an OpenSpiel normal-form game.

    Args:
        game: a ``pyspiel.NormalFormGame`` (e.g.
            ``pyspiel.load_game("matrix_rps")`` or
            ``pyspiel.create_matrix_game(A, B)``).

    Returns:
        ``from_normal_form`` of its payoff tables (float64 when x64 is on).

    Raises:
        ValueError: ``game`` is not an OpenSpiel normal-form game.
    """
    pyspiel = _pyspiel()
    if not isinstance(game, pyspiel.NormalFormGame):
        raise ValueError(
            f"game is {game!r:.80} ({type(game).__name__}); from_openspiel "
            "converts OpenSpiel normal-form games (pyspiel.NormalFormGame) only; "
            "use from_openspiel_tree for a sequential game"
        )
    from open_spiel.python.egt import utils

    return from_normal_form(np.asarray(utils.game_payoffs_array(game)))


def to_openspiel(game: AbstractMarkovGame) -> Any:
    """The OpenSpiel game of a marlmeta normal-form game.

    Args:
        game: one finite-horizon game with one state and one step (see
            :func:`marlmeta.interop.to_normal_form`).

    Returns:
        ``pyspiel.create_matrix_game(A, B)`` for two players,
        ``pyspiel.create_tensor_game(payoffs)`` otherwise (payoffs as float64).

    Raises:
        ValueError: the game is not a normal-form game.
    """
    tables = [np.asarray(t, np.float64).tolist() for t in to_normal_form(game)]
    pyspiel = _pyspiel()
    if len(tables) == 2:
        return pyspiel.create_matrix_game(*tables)
    return pyspiel.create_tensor_game(tables)
