"""Matrix-free (GMRES) evaluation in float32 at the rounding floor.

GMRES used to stop when every component of the residual ``r - (v - gamma P_pi
v)`` was within ``1e-6 (1 + |r_s|)``. The residual cannot be computed more
accurately than the rounding of ``v``, about ``eps |v_s|`` (``eps = 1.2e-7``):
in a state with no reward of its own (``r_s = 0``) but a value of 30, that is
some ``4e-6 > 1e-6``, so GMRES stagnated and the values, NashConv and every
metric came back NaN (an error, or ``finite=False`` in a report) although
float32 represents the answer to six digits. A sparse game with 100,000
states and rewards in ``[0, 1]`` hit the same floor in a few of its states
(values of size 5, residuals of ``2e-6``). The tolerance is now relative to
the scale of the values, ``|r|_inf / (1 - gamma)``.

The trigger here is deliberate and small: one player (NashConv is the
regret of the policy in an MDP, found by the same value iteration, policy
iteration and GMRES as for any number of players), 48 states, all but two
without reward, rewards of size 100 in the other two.
"""

import jax
import jax.numpy as jnp
import numpy as np

import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.policies as P

S, GAMMA, SCALE = 48, 0.9, 100.0


def _game(dtype, solver):
    rng = np.random.default_rng(0)
    nxt = rng.integers(0, S, (1, S, 3, 4))
    prob = rng.exponential(size=(1, S, 3, 4))
    prob /= prob.sum(-1, keepdims=True)
    r = SCALE * rng.uniform(size=(S, 3))
    r[: S - 2] = 0.0  # |r_s| = 0 where |v_s| is about 30
    # Built from float32 data in both dtypes: the same game.
    r, prob = r.astype(np.float32), prob.astype(np.float32)
    return G.discounted_game(
        r[None].astype(dtype),  # one player: NashConv is the MDP's regret
        G.SparseTransitions(nxt, prob.astype(dtype), S),
        np.full(S, 1 / S, dtype),
        GAMMA,
        linear_solver=solver,
    )


@jax.jit
def _evaluate(game, policy):
    return E.values(game, policy), E.report(game, policy)


def test_float32_gmres_values_and_nash_conv_are_finite_and_match_float64():
    g32 = _game(np.float32, "iterative")  # tests/conftest.py enables float64
    assert g32.linear_solver == G.MatrixFreeSolve()
    pol = P.random_policy(g32, key=jax.random.key(1))
    ref_game = _game(np.float64, "dense")  # LU in float64: the reference
    ref_pol = jax.tree.map(lambda x: np.asarray(x, np.float64), pol)
    v, rep = _evaluate(g32, pol)
    ref_v, ref = _evaluate(ref_game, ref_pol)
    assert v.dtype == jnp.float32 and bool(rep.finite)
    assert np.all(np.isfinite(v)) and np.isfinite(float(rep.nash_conv))
    # GMRES stops at residuals within tol (|r_s| + |r|_inf / (1 - gamma)) with
    # tol = 1e-6; an error in v is at most the residual over 1 - gamma. Add the
    # float32 rounding of v, eps |v| (1 + gamma) / (1 - gamma).
    tol, eps = 1e-6, float(np.finfo(np.float32).eps)
    vmax = float(np.max(np.abs(ref_v)))
    bound = tol * SCALE * (1 + 1 / (1 - GAMMA)) / (1 - GAMMA)
    bound += eps * vmax * (1 + GAMMA) / (1 - GAMMA)
    assert vmax > 10  # the trigger: values far above the rewards of most states
    np.testing.assert_allclose(v, ref_v, rtol=0, atol=bound)
    # NashConv: the best-response value less the value, each within the bound.
    np.testing.assert_allclose(rep.nash_conv, ref.nash_conv, rtol=0, atol=2 * bound)
    np.testing.assert_allclose(rep.values, ref.values, rtol=0, atol=bound)
    assert float(ref.nash_conv) > 1  # a random policy is far from equilibrium
