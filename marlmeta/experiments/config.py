"""Typed, frozen experiment configs loaded from YAML.

A YAML file names its experiment (``experiment: zero_sum_meta``); the config
class registered under that name (:data:`marlmeta.experiments._protocol.EXPERIMENTS`)
is built from the file with every key checked: an unknown or mistyped key, or
a value of the wrong type, is a :class:`ConfigError` naming the key and the
file. The class's ``check`` then does the range checks.
"""

from __future__ import annotations

import pathlib

import yaml

from marlmeta.experiments._loader import ConfigError, _build, check_name
from marlmeta.experiments._protocol import EXPERIMENTS, Experiment


def load_config(path: str | pathlib.Path) -> Experiment:
    """Load and validate a YAML experiment config.

    Raises:
        ConfigError: naming the key and the file.
        OSError: when the file cannot be read (``FileNotFoundError``,
            ``IsADirectoryError``, ...).
    """
    path = pathlib.Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    kind = data.get("experiment")
    if kind not in EXPERIMENTS:
        raise ConfigError(
            f"{path}: key 'experiment' is {kind!r}; "
            f"expected one of: {', '.join(sorted(EXPERIMENTS))}"
        )
    config = _build(EXPERIMENTS[kind], data, str(path))
    check_name(str(path), config.name)
    config.check(str(path))
    return config
