"""The impure shell: typed configs, the runner, plots."""

from marlmeta.experiments.config import (
    ConfigError as ConfigError,
    load_config as load_config,
)
from marlmeta.experiments.runner import run_experiment as run_experiment
