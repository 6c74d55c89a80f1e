"""Small dense linear programs in JAX: a vmappable simplex and matrix games.

- :func:`linprog`: ``min c @ x`` s.t. ``A_ub x <= b_ub``, ``A_eq x == b_eq``,
  ``x >= 0`` by two-phase tableau simplex with Bland's rule, a fixed pivot
  budget and vertex solutions;
- :func:`solve_matrix_game`: value and optimal strategies of a zero-sum matrix game,
  with a duality-gap certificate.

Both take one problem; batch with ``jax.vmap``.
"""

from marlmeta.lp._certificate import (
    certificate_tolerance as certificate_tolerance,
    check_budget as check_budget,
    check_tolerance as check_tolerance,
    power_of_two as power_of_two,
)
from marlmeta.lp._grouped import grouped_linprog as grouped_linprog
from marlmeta.lp._linprog import LPResult as LPResult, linprog as linprog
from marlmeta.lp._matrix_game import (
    MatrixGameSolution as MatrixGameSolution,
    solve_matrix_game as solve_matrix_game,
)
from marlmeta.lp._simplex import (
    Status as Status,
    default_tolerance as default_tolerance,
)
