"""The papers' convergence theorems, evaluated beside the measured gaps.

Bound calculators (one per theorem, computed exactly from a game, the
solver's hyperparameters and the run's statistics), the step sizes the
theorems prescribe, and the quantities the proofs bound (per-state regrets).
"""

from marlmeta.solvers import (
    reward_range as reward_range,
    theorem1_step_size as theorem1_step_size,
)
from marlmeta.theory._aggregative import (
    MAX_PROFILES as MAX_PROFILES,
    aggregative_theorem42 as aggregative_theorem42,
    approximate_pne_welfare as approximate_pne_welfare,
)
from marlmeta.theory._mao import (
    Bound as Bound,
    checkpoint_trace as checkpoint_trace,
    mao_theorem1 as mao_theorem1,
    mao_theorem1_trace as mao_theorem1_trace,
    mao_theorem1_uniform as mao_theorem1_uniform,
    mao_theorem2 as mao_theorem2,
)
from marlmeta.theory._mao_cce import (
    largest_reward_range as largest_reward_range,
    last_complete_stage as last_complete_stage,
    mao_theorem5 as mao_theorem5,
    mao_theorem5_regret_chain as mao_theorem5_regret_chain,
    mao_theorem5_trace as mao_theorem5_trace,
    mao_theorem5_uniform as mao_theorem5_uniform,
    theorem5_step_size as theorem5_step_size,
)
from marlmeta.theory._mao_maml import (
    maml_smoothness as maml_smoothness,
    mao_theorem4 as mao_theorem4,
)
from marlmeta.theory._mao_meta_cce import (
    mao_theorem6 as mao_theorem6,
    mao_theorem6_rate as mao_theorem6_rate,
    mao_theorem6_trace as mao_theorem6_trace,
    theorem6_step_size as theorem6_step_size,
)
from marlmeta.theory._mao_potential import (
    PotentialTrajectory as PotentialTrajectory,
    discounted_potential_similarity as discounted_potential_similarity,
    distribution_mismatch as distribution_mismatch,
    mao_proposition1 as mao_proposition1,
    mao_theorem3 as mao_theorem3,
    projected_q_step_size as projected_q_step_size,
    projected_q_trajectory as projected_q_trajectory,
    warm_start_trajectories as warm_start_trajectories,
)
from marlmeta.theory._oftrl import (
    NestedIndexGap as NestedIndexGap,
    index_weights as index_weights,
    nested_index_cce_gap as nested_index_cce_gap,
    oftrl_iterates as oftrl_iterates,
    oftrl_regret_bound as oftrl_regret_bound,
    oftrl_theorem4 as oftrl_theorem4,
    oftrl_weighted_regret as oftrl_weighted_regret,
)
from marlmeta.theory._regret import (
    StageRegrets as StageRegrets,
    stage_regrets as stage_regrets,
)
from marlmeta.theory._zhang import (
    SoftmaxTrajectory as SoftmaxTrajectory,
    gradient_play_step_size as gradient_play_step_size,
    mean_squared_gap as mean_squared_gap,
    mismatch_coefficient as mismatch_coefficient,
    natural_gradient_play_step_size as natural_gradient_play_step_size,
    potential_range as potential_range,
    softmax_trajectory as softmax_trajectory,
    zhang_theorem5_gradient_play as zhang_theorem5_gradient_play,
    zhang_theorem5_natural_gradient_play as zhang_theorem5_natural_gradient_play,
)
from marlmeta.theory._zhang_asymptotic import (
    Theorem4Check as Theorem4Check,
    Theorem4StepSizes as Theorem4StepSizes,
    zhang_theorem4 as zhang_theorem4,
    zhang_theorem4_step_size as zhang_theorem4_step_size,
)
from marlmeta.theory._zhang_barrier import (
    barrier_gradient_play_step_size as barrier_gradient_play_step_size,
    barrier_natural_gradient_play_step_size as barrier_natural_gradient_play_step_size,
    barrier_potential as barrier_potential,
    mean_gap as mean_gap,
    min_gap as min_gap,
    zhang_theorem6 as zhang_theorem6,
    zhang_theorem7 as zhang_theorem7,
)
from marlmeta.theory._zhao import (
    zhao_theorem45 as zhao_theorem45,
    zhao_theorem45_beta as zhao_theorem45_beta,
)
from marlmeta.theory._zhao_pessimistic import (
    PessimisticTrajectory as PessimisticTrajectory,
    pessimistic_trajectory as pessimistic_trajectory,
    zhao_statistical_error as zhao_statistical_error,
    zhao_theorem55 as zhao_theorem55,
    zhao_theorem55_pessimism as zhao_theorem55_pessimism,
)
