"""CFRPlus against an independent NumPy CFR+ on Kuhn poker's game tree.

The reference (``tests/reference_cfr.py``) walks Kuhn poker's betting tree
with alternating regret-matching+ updates and the average weighted by ``t``
times the player's own reach; it shares no code with marlmeta's
state/observation machinery. The whole run goes through ``M.solve``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import zoo
from tests.reference_cfr import assert_matches, reference_cfr, rm_plus

jax.config.update("jax_enable_x64", True)


def reference_cfr_plus(num_steps):
    """Average and current policies ``{(player, hist, card): (2,)}`` of CFR+
    (regret-matching+, linear averaging) from the tree reference."""
    return reference_cfr(num_steps, rm_plus, lambda t: t)


@pytest.fixture(scope="module")
def kuhn():
    return zoo.kuhn_poker(jnp.float64)


def test_cfr_plus_equals_the_numpy_tree_reference(kuhn):
    T = 25
    solver = M.solvers.CFRPlus()
    run = jax.jit(lambda g: M.solve(solver, g, T, checkpoints=(T,)))
    sol = run(kuhn)
    state = jax.jit(
        lambda g: jax.lax.fori_loop(
            0,
            T,
            lambda _, s: solver.step(g, s),
            solver.init(g, solver.default_init(g, T)),
        )
    )(kuhn)
    avg, current = reference_cfr_plus(T)
    assert_matches(avg, current, sol.policy.tables, state.policy)
    # and it converges: Kuhn's NashConv after T = 25 is far below uniform's
    uniform = M.evaluation.nash_conv(kuhn, M.policies.observation_uniform(kuhn))
    assert float(sol.trace.nash_conv[-1]) < 0.05 * float(uniform)


def test_regret_matching_is_uniform_without_positive_regret():
    r = jnp.array([[1.0, 3.0], [-1.0, -2.0], [0.0, 0.0]])
    np.testing.assert_allclose(
        M.solvers.regret_matching(r), [[0.25, 0.75], [0.5, 0.5], [0.5, 0.5]]
    )


def test_cfr_plus_needs_observations():
    with pytest.raises(ValueError, match="CFRPlus needs a game with observations"):
        M.solve(M.solvers.CFRPlus(), zoo.matching_pennies(), 3)
