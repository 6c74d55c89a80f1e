"""What an experiment is to the runner: a config class with ``check`` and ``plan``.

An experiment is a frozen dataclass deriving from :class:`Experiment` with the
name that configs give in their ``experiment`` key::

    @dataclasses.dataclass(frozen=True)
    class MyConfig(Experiment, experiment="my_experiment"):
        name: str
        experiment: str
        ...

        def check(self, path): ...  # range checks that types cannot express
        def plan(self) -> Plan: ...  # chunks, aggregation, figure

Deriving registers the class in :data:`EXPERIMENTS`, which the loader reads;
the runner calls only ``plan`` and the :class:`Plan` it returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

#: Config classes by the value of their ``experiment`` key.
EXPERIMENTS: dict[str, type[Experiment]] = {}


class Plan(NamedTuple):
    """How to run one experiment.

    Attributes:
        units: the number of chunks; each is computed (and saved) on its own so
            that an interrupted sweep resumes.
        compute: chunk index -> a pytree of arrays (an ``eqx.Module`` of the
            experiment's raw numbers); the runner saves it by key path with
            its manifest, and never calls it for a chunk already saved.
        aggregate: the chunks, in order, as the runner reads them back from
            their files (fresh or resumed alike): NumPy arrays, with each
            ``eqx.Module`` node a :class:`~marlmeta.experiments._chunks.Record`
            of the same attributes -> the ``results.json`` mapping.
        figure: the ``results.json`` mapping -> PNG bytes.
        float64: whether the experiment needs ``jax_enable_x64``.
    """

    units: int
    compute: Callable[[int], Any]
    aggregate: Callable[[list[Any]], dict]
    figure: Callable[[dict], bytes]
    float64: bool


class Experiment:
    """The base of experiment config classes; deriving with ``experiment=NAME``
    registers the class under ``NAME``."""

    #: The registered name (``None`` on abstract intermediate classes).
    experiment_name: ClassVar[str | None] = None
    #: Why the experiment cannot take a game from a file or an OpenSpiel name
    #: (``game: {file: ..}``), or ``None`` where it can or has no game.
    game_source_refusal: ClassVar[str | None] = None

    def __init_subclass__(cls, *, experiment: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.experiment_name = experiment
        if experiment is None:
            return
        if experiment in EXPERIMENTS:
            raise TypeError(
                f"experiment {experiment!r} is registered twice: "
                f"{EXPERIMENTS[experiment].__qualname__} and {cls.__qualname__}"
            )
        EXPERIMENTS[experiment] = cls

    def check(self, path: str) -> None:
        """Range checks that types alone cannot express; a ``ConfigError``
        naming the key and ``path``."""
        raise NotImplementedError

    def plan(self) -> Plan:
        """The chunks, aggregation and figure of a run of this config."""
        raise NotImplementedError


def to_dict(config) -> dict[str, Any]:
    """The config as plain data (tuples as lists), for ``config.yaml``."""

    def plain(x):
        if isinstance(x, tuple | list):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x

    return plain(dataclasses.asdict(config))
