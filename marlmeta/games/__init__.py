"""Tabular Markov games as pytrees: containers, constructors, families, zoo."""

from marlmeta.games import zoo as zoo
from marlmeta.games._backward_induction import stage_q as stage_q
from marlmeta.games._constructors import (
    discounted_game as discounted_game,
    markov_game as markov_game,
    matrix_game as matrix_game,
    zero_sum_game as zero_sum_game,
)
from marlmeta.games._cooperative import (
    cooperative_game as cooperative_game,
    cooperative_reward as cooperative_reward,
    random_cooperative as random_cooperative,
)
from marlmeta.games._evaluation import Evaluation as Evaluation
from marlmeta.games._families import (
    perturb_rewards as perturb_rewards,
    perturb_transitions as perturb_transitions,
    random_general_sum as random_general_sum,
    random_identical_interest as random_identical_interest,
    random_potential as random_potential,
    random_zero_sum as random_zero_sum,
    stack as stack,
    unstack as unstack,
)
from marlmeta.games._files import (
    FORMAT_NAME as FORMAT_NAME,
    FORMAT_VERSION as FORMAT_VERSION,
    load_game as load_game,
    save_game as save_game,
)
from marlmeta.games._game import (
    AbstractFiniteHorizonGame as AbstractFiniteHorizonGame,
    AbstractMarkovGame as AbstractMarkovGame,
    DiscountedMarkovGame as DiscountedMarkovGame,
    FiniteHorizonGame as FiniteHorizonGame,
    MarkovGame as MarkovGame,
)
from marlmeta.games._legal import (
    AbstractLegalActions as AbstractLegalActions,
    AllLegal as AllLegal,
    LegalActions as LegalActions,
    legal_face as legal_face,
    restrict_rows as restrict_rows,
    uniform_rows as uniform_rows,
)
from marlmeta.games._linear_solves import (
    AbstractLinearSolver as AbstractLinearSolver,
    AutoSolve as AutoSolve,
    DenseSolve as DenseSolve,
    MatrixFreeSolve as MatrixFreeSolve,
    OptimalPolicy as OptimalPolicy,
    PolicyParts as PolicyParts,
)
from marlmeta.games._lq_tracking import (
    lq_tracking_family as lq_tracking_family,
    lq_tracking_potential as lq_tracking_potential,
)
from marlmeta.games._observations import (
    AbstractObservedGame as AbstractObservedGame,
    ObservedGame as ObservedGame,
    belief_average as belief_average,
    beliefs as beliefs,
    check_perfect_recall as check_perfect_recall,
    mass_per_observation as mass_per_observation,
    observe as observe,
)
from marlmeta.games._poker import (
    HANDS as HANDS,
    parse_cards as parse_cards,
)
from marlmeta.games._private_type_matrices import (
    TypeFactorRewards as TypeFactorRewards,
)
from marlmeta.games._private_types import (
    PrivateTypeGame as PrivateTypeGame,
    PublicTransitions as PublicTransitions,
)
from marlmeta.games._rewards import (
    AbstractRewards as AbstractRewards,
    DenseRewards as DenseRewards,
    IdenticalRewards as IdenticalRewards,
    StationaryRewards as StationaryRewards,
    ZeroSumRewards as ZeroSumRewards,
)
from marlmeta.games._sparse import (
    random_sparse_general_sum as random_sparse_general_sum,
    random_sparse_zero_sum as random_sparse_zero_sum,
)
from marlmeta.games._transitions import (
    AbstractTransitions as AbstractTransitions,
    DenseTransitions as DenseTransitions,
    FactoredTransitions as FactoredTransitions,
    SparseTransitions as SparseTransitions,
)
from marlmeta.games._turn_based import (
    TurnBasedGame as TurnBasedGame,
    TurnStep as TurnStep,
)
