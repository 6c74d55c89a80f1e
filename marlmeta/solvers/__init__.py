"""Learning dynamics as pure ``init`` / ``step`` / ``output`` modules."""

from marlmeta.solvers._adaptive_oftrl import (
    AdaptiveOFTRL as AdaptiveOFTRL,
    AdaptiveOFTRLState as AdaptiveOFTRLState,
    OFTRLDiagnostics as OFTRLDiagnostics,
    alpha_tilde as alpha_tilde,
    select_lambda as select_lambda,
)
from marlmeta.solvers._base import AbstractSolver as AbstractSolver
from marlmeta.solvers._cfr_plus import (
    AbstractCFR as AbstractCFR,
    CFRPlus as CFRPlus,
    CFRPlusState as CFRPlusState,
    regret_matching as regret_matching,
)
from marlmeta.solvers._cfr_variants import (
    DiscountedCFR as DiscountedCFR,
    PredictiveCFRPlus as PredictiveCFRPlus,
)
from marlmeta.solvers._counterfactual_omd import (
    CounterfactualOMD as CounterfactualOMD,
    CounterfactualOMDState as CounterfactualOMDState,
)
from marlmeta.solvers._general_sum_omd import (
    GeneralSumOMD as GeneralSumOMD,
    GeneralSumOMDState as GeneralSumOMDState,
)
from marlmeta.solvers._ma_ppo import (
    MultiAgentPPO as MultiAgentPPO,
    beta_step_size as beta_step_size,
)
from marlmeta.solvers._ma_ppo_linear import (
    LogLinearMAPPO as LogLinearMAPPO,
    SampledMAPPO as SampledMAPPO,
    ball_least_squares as ball_least_squares,
    feature_policy as feature_policy,
    legal_feature_policy as legal_feature_policy,
    one_hot_features as one_hot_features,
)
from marlmeta.solvers._ma_ppo_pessimistic import (
    PessimisticMAPPO as PessimisticMAPPO,
    bellman_error as bellman_error,
    moments as moments,
    pessimistic_critic as pessimistic_critic,
    reset_data as reset_data,
)
from marlmeta.solvers._ma_ppo_sampling import (
    AbstractCritic as AbstractCritic,
    AbstractSampling as AbstractSampling,
    ExactCritic as ExactCritic,
    FittedCritic as FittedCritic,
    MonteCarloCritic as MonteCarloCritic,
    OccupancySampling as OccupancySampling,
    StationarySampling as StationarySampling,
)
from marlmeta.solvers._observed_omd import (
    AVERAGES as AVERAGES,
    AbstractAverage as AbstractAverage,
    ObservedOMDState as ObservedOMDState,
    ObservedZeroSumOMD as ObservedZeroSumOMD,
    PlainAverage as PlainAverage,
    ReachAverage as ReachAverage,
)
from marlmeta.solvers._projected_q import (
    ProjectedQDescent as ProjectedQDescent,
    project_simplex as project_simplex,
)
from marlmeta.solvers._softmax_play import (
    AbstractSoftmaxPlay as AbstractSoftmaxPlay,
    GradientPlay as GradientPlay,
    NaturalGradientPlay as NaturalGradientPlay,
    gradient_step as gradient_step,
)
from marlmeta.solvers._stages import (
    AbstractStageOMD as AbstractStageOMD,
    StageClock as StageClock,
    full_stage_lengths as full_stage_lengths,
    num_stages as num_stages,
    reduce_last as reduce_last,
    reward_range as reward_range,
    stage_lengths as stage_lengths,
    theorem1_step_size as theorem1_step_size,
)
from marlmeta.solvers._zero_sum_omd import (
    AbstractZeroSumOMD as AbstractZeroSumOMD,
    ZeroSumOMD as ZeroSumOMD,
    ZeroSumOMDState as ZeroSumOMDState,
)
