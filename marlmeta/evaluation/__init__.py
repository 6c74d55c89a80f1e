"""Exact, differentiable equilibrium metrics (``ALGORITHMS.md`` section 1)."""

from marlmeta.evaluation._metrics import (
    Report as Report,
    best_response_values as best_response_values,
    best_responses as best_responses,
    cce_gap as cce_gap,
    gains as gains,
    nash_conv as nash_conv,
    ne_gap as ne_gap,
    potential as potential,
    report as report,
    values as values,
)
