"""A config's game from a game file or an OpenSpiel name (bring your own game).

Where an experiment takes a game, its ``game`` section may name one instead of
the experiment's own generator::

    game:
      file: my_game.npz          # written by marlmeta.games.save_game
      # or: openspiel: kuhn_poker  (a name with parameters; needs open_spiel)
      noise_std: 0.1             # the perturbation family around it
      num_games: 10

The game is loaded when the run starts (a file path is relative to the
working directory); the experiment's family perturbs its rewards as it would
its own base game (:func:`marlmeta.games.perturb_rewards`, keeping the game's
structure: zero-sum, observations, legal actions).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib

import jax
import jax.numpy as jnp

from marlmeta.experiments._loader import ConfigError


@dataclasses.dataclass(frozen=True)
class GameSourceConfig:
    """A ``game`` section that loads a game: exactly one of ``file`` (a
    :func:`marlmeta.games.save_game` file of one finite-horizon game) and
    ``openspiel`` (an OpenSpiel game name with parameters, converted by
    :func:`marlmeta.interop.from_openspiel_tree`), plus the perturbation
    family's ``noise_std``, ``num_games`` and (for a batch) ``seed``."""

    file: str | None = None
    openspiel: str | None = None
    noise_std: float = 0.1
    num_games: int = 10
    seed: int = 0
    note: str = ""

    def sizes(self) -> dict[str, int]:
        """Sizes to check (the game's own are checked when it loads)."""
        return {}

    def check(self, path: str) -> None:
        """Exactly one source; the file exists, or open_spiel is installed."""
        if (self.file is None) == (self.openspiel is None):
            raise ConfigError(
                f"{path}: key 'game' needs exactly one of 'file' and 'openspiel' "
                f"(got file={self.file!r}, openspiel={self.openspiel!r})"
            )
        if self.file is not None and not pathlib.Path(self.file).is_file():
            raise ConfigError(f"{path}: key 'game.file' is {self.file!r}; no such file")
        if self.openspiel is not None and importlib.util.find_spec("pyspiel") is None:
            raise ConfigError(
                f"{path}: key 'game.openspiel' is {self.openspiel!r}, but open_spiel "
                "is not installed (pip install 'marlmeta[openspiel]')"
            )

    def batch(self, dtype):
        """A batch of ``num_games`` games: the base game plus independent
        Gaussian reward noise per player (std ``noise_std``, key ``seed``;
        :func:`marlmeta.games.perturb_rewards`), for experiments that run on a
        batch of general-sum games."""
        from marlmeta import games

        return games.perturb_rewards(
            jax.random.key(self.seed),
            self.build(dtype, None),
            self.num_games,
            self.noise_std,
            coupling="independent",
        )

    def build(self, dtype, make):
        """The base game, one finite-horizon game in ``dtype`` (``make``, the
        experiment's own generator, is not used)."""
        del make
        from marlmeta import games, interop

        if self.file is not None:
            game = games.load_game(self.file)
            where = f"game.file {self.file!r}"
        else:
            game = interop.from_openspiel_tree(self.openspiel)[0]
            where = f"game.openspiel {self.openspiel!r}"
        if game.batch_shape:
            raise ValueError(
                f"{where} holds a batch of {game.batch_shape[0]} games; "
                "expected one game (the experiment perturbs it into a family)"
            )
        game.require_finite_horizon(where)
        return jax.tree.map(
            lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x,
            game,
        )
