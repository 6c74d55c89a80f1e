"""Tabular Markov games as pytrees: containers, constructors, families, zoo."""

from marlmeta.games import zoo as zoo
from marlmeta.games._constructors import (
    discounted_game as discounted_game,
)
from marlmeta.games._constructors import (
    markov_game as markov_game,
)
from marlmeta.games._constructors import (
    matrix_game as matrix_game,
)
from marlmeta.games._constructors import (
    zero_sum_game as zero_sum_game,
)
from marlmeta.games._families import (
    perturb_rewards as perturb_rewards,
)
from marlmeta.games._families import (
    perturb_transitions as perturb_transitions,
)
from marlmeta.games._families import (
    random_general_sum as random_general_sum,
)
from marlmeta.games._families import (
    random_identical_interest as random_identical_interest,
)
from marlmeta.games._families import (
    random_potential as random_potential,
)
from marlmeta.games._families import (
    random_zero_sum as random_zero_sum,
)
from marlmeta.games._families import (
    stack as stack,
)
from marlmeta.games._families import (
    unstack as unstack,
)
from marlmeta.games._game import (
    AbstractMarkovGame as AbstractMarkovGame,
)
from marlmeta.games._game import (
    DiscountedMarkovGame as DiscountedMarkovGame,
)
from marlmeta.games._game import (
    MarkovGame as MarkovGame,
)
from marlmeta.games._transitions import (
    AbstractTransitions as AbstractTransitions,
)
from marlmeta.games._transitions import (
    DenseTransitions as DenseTransitions,
)
from marlmeta.games._transitions import (
    FactoredTransitions as FactoredTransitions,
)
from marlmeta.games._transitions import (
    SparseTransitions as SparseTransitions,
)
