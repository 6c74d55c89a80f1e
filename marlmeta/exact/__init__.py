"""Exact equilibria of tabular Markov games, with certificates.

- :func:`zero_sum_equilibrium`: Shapley's backward induction (finite horizon)
  or value iteration (discounted) for two-player zero-sum games;
- :func:`markov_cce` / :func:`markov_ce`: welfare-maximising Markov (coarse)
  correlated equilibria of ``N``-player general-sum finite-horizon games, one
  LP per step and state.

- :func:`exact_report`: a checkpoint metric for :func:`marlmeta.solve` that
  traces ``|V - V*|`` beside the gap.

Every result carries the exact gap of its policy as ``certificate``. One game
per call; batch with ``jax.vmap``.
"""

from marlmeta.exact._correlated import (
    CorrelatedEquilibrium as CorrelatedEquilibrium,
    markov_cce as markov_cce,
    markov_ce as markov_ce,
)
from marlmeta.exact._zero_sum import (
    ExactReport as ExactReport,
    ZeroSumEquilibrium as ZeroSumEquilibrium,
    exact_report as exact_report,
    zero_sum_equilibrium as zero_sum_equilibrium,
)
