"""The impure shell: typed configs, the runner, the experiments.

Each experiment is one module that owns its config class, its plan and its
figure; importing it registers the config class (see ``_protocol``). The
runner knows none of them.
"""

# The experiments: importing a module registers its config classes.
from marlmeta.experiments import (  # noqa: F401
    aggregative as aggregative,
    compare as compare,
    cooperative as cooperative,
    lq_tracking as lq_tracking,
    maml as maml,
    poker as poker,
    ratio as ratio,
    sampled_ppo as sampled_ppo,
    sequence as sequence,
    softmax as softmax,
)
from marlmeta.experiments._interrupt import Interrupted as Interrupted
from marlmeta.experiments._protocol import (
    EXPERIMENTS as EXPERIMENTS,
    Experiment as Experiment,
    Plan as Plan,
)
from marlmeta.experiments.config import (
    ConfigError as ConfigError,
    load_config as load_config,
)
from marlmeta.experiments.runner import run_experiment as run_experiment
