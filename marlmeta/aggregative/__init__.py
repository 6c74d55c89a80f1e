"""Aggregative Markov games: many players coupled through an aggregate.

The model, exact metrics of pure profiles and planners of Tang, Tang, Wu,
"Provably Efficient Reinforcement Learning for Large Aggregative Markov Games",
with the normal-form subroutine of Cummings, Kearns, Roth, Wu, "Privacy and
Truthful Equilibrium Selection for Aggregative Games" (WINE 2015): one linear
program per grid point of the aggregate, solved by
:func:`marlmeta.lp.grouped_linprog`.

The planners (:class:`AggreBI`, :class:`Statewise`) and the learner
(:class:`AggreVI`, a solver of :func:`marlmeta.solve`) are pure: the caller
jits them and vmaps them over a family of games that share one grid
(:func:`make_grid` of the batch). The best-response slack is a strategy object
(:class:`TheoryEta`, :class:`FixedEta`, :class:`SmallestEta`).
"""

from marlmeta.aggregative._eta import (
    AbstractEtaRule as AbstractEtaRule,
    FixedEta as FixedEta,
    SmallestEta as SmallestEta,
    StageLPs as StageLPs,
    TheoryEta as TheoryEta,
)
from marlmeta.aggregative._families import (
    cournot as cournot,
    distancing as distancing,
    random_aggregative as random_aggregative,
    rosenthal_potential as rosenthal_potential,
    singleton_congestion as singleton_congestion,
)
from marlmeta.aggregative._game import (
    AggregativeGame as AggregativeGame,
    aggregative_game as aggregative_game,
)
from marlmeta.aggregative._grid import (
    Grid as Grid,
    lipschitz_extension as lipschitz_extension,
    make_grid as make_grid,
)
from marlmeta.aggregative._metrics import (
    deviations as deviations,
    gains as gains,
    ne_gap as ne_gap,
    product_policy as product_policy,
    profile_values as profile_values,
    stage_values as stage_values,
    state_distribution as state_distribution,
    to_markov_game as to_markov_game,
    welfare as welfare,
    welfare_weights as welfare_weights,
)
from marlmeta.aggregative._models import (
    AbstractAggregateRewards as AbstractAggregateRewards,
    AbstractAggregateTransitions as AbstractAggregateTransitions,
    AffineRewards as AffineRewards,
    CongestionRewards as CongestionRewards,
    SoftmaxTransitions as SoftmaxTransitions,
    ThresholdTransitions as ThresholdTransitions,
)
from marlmeta.aggregative._planning import (
    AbstractPlanner as AbstractPlanner,
    AggreBI as AggreBI,
    PlanningResult as PlanningResult,
    Statewise as Statewise,
    aggre_bi as aggre_bi,
    check_plan as check_plan,
    statewise as statewise,
)
from marlmeta.aggregative._subroutine import (
    stage_lp as stage_lp,
    stage_lps as stage_lps,
    zeta as zeta,
)
from marlmeta.aggregative._vi import (
    AggreVI as AggreVI,
    AggreVIDiagnostics as AggreVIDiagnostics,
    AggreVIInit as AggreVIInit,
    AggreVIState as AggreVIState,
    width_bound as width_bound,
)
