"""Exact, differentiable equilibrium metrics: values, best responses, gains,
NE-gap, NashConv, OpenSpiel's exploitability, CCE-gap, the potential, policy
gradients and HVPs; the localized action values and optimality gap of
cooperative games."""

from marlmeta.evaluation._ce import ce_gains as ce_gains, ce_gap as ce_gap
from marlmeta.evaluation._cooperative import (
    MEASURES as MEASURES,
    AbstractMeasure as AbstractMeasure,
    InitialMeasure as InitialMeasure,
    StationaryMeasure as StationaryMeasure,
    localized_q as localized_q,
    occupancy as occupancy,
    optimal_value as optimal_value,
    optimality_gap as optimality_gap,
    shared_reward as shared_reward,
    stationary_distribution as stationary_distribution,
)
from marlmeta.evaluation._exploitability import exploitability as exploitability
from marlmeta.evaluation._gradients import (
    SoftmaxReport as SoftmaxReport,
    advantages as advantages,
    averaged_q as averaged_q,
    lojasiewicz as lojasiewicz,
    policy_gradient as policy_gradient,
    potential_gradient as potential_gradient,
    potential_hvp as potential_hvp,
    softmax_potential as softmax_potential,
    softmax_report as softmax_report,
    softmax_values as softmax_values,
    visitation as visitation,
)
from marlmeta.evaluation._metrics import (
    AbstractReport as AbstractReport,
    AbstractUnilateralReport as AbstractUnilateralReport,
    CCEReport as CCEReport,
    Report as Report,
    best_response_values as best_response_values,
    best_responses as best_responses,
    cce_gap as cce_gap,
    full_state_best_response_values as full_state_best_response_values,
    full_state_gains as full_state_gains,
    full_state_nash_conv as full_state_nash_conv,
    gains as gains,
    nash_conv as nash_conv,
    ne_gap as ne_gap,
    potential as potential,
    report as report,
    values as values,
)
