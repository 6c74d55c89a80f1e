"""Adjoint strategies of ``solve``: reverse mode through the iterations.

References: closed forms for the nested scans, central finite differences in
float64 of the default (``ForwardOnly``) driver for every smooth solver of the
conformance catalogue, and forward-mode differentiation of the ``fori_loop``
driver.
"""

import inspect

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
from marlmeta._adjoint import _runs, nested_scan
from tests.test_conformance import (
    CATALOGUE,
    CATALOGUE_SOLVERS,
    NON_SMOOTH,
    _catalogue_game,
)

ADJOINT = M.RecursiveCheckpointAdjoint()


def test_every_solver_is_in_the_catalogue():
    public = {
        name
        for name, obj in vars(M.solvers).items()
        if inspect.isclass(obj)
        and issubclass(obj, M.solvers.AbstractSolver)
        and not inspect.isabstract(obj)
    }
    assert public == set(CATALOGUE_SOLVERS), public ^ set(CATALOGUE_SOLVERS)
    assert set(NON_SMOOTH) <= public


@pytest.mark.parametrize(
    "length, levels", [(0, 2), (1, 2), (7, 1), (7, 2), (10, 3), (13, 2), (16, 4)]
)
def test_nested_scan_steps_and_derivative(length, levels):
    """``s -> a s`` from 1: ``a^L``, derivative ``L a^(L-1)``, exactly L steps."""

    def f(a):
        return nested_scan(lambda s: a * s, jnp.float64(1.0), length, levels)

    a = 1.1
    value, grad = jax.value_and_grad(f)(a)
    np.testing.assert_allclose(value, a**length, rtol=1e-14)
    np.testing.assert_allclose(grad, length * a ** max(length - 1, 0), rtol=1e-13)


def test_segment_runs():
    assert _runs([2, 2, 2, 3, 1, 1]) == [(2, 3), (3, 1), (1, 2)]
    assert _runs([]) == []


def test_bad_levels():
    with pytest.raises(ValueError, match="levels is 0; expected an int >= 1"):
        M.RecursiveCheckpointAdjoint(levels=0)
    with pytest.raises(ValueError, match="levels is 1.5"):
        M.RecursiveCheckpointAdjoint(levels=1.5)


def _first_spec(name):
    """The spec of the first dense catalogue game ``name``'s solver applies to."""
    applies = CATALOGUE_SOLVERS[name][1]
    return next(s for s in CATALOGUE.values() if applies(s) and s[0] == "dense")


def _first_game(name, dense_only=True):
    """The first (dense) catalogue game ``name``'s solver applies to, seed 0."""
    return _catalogue_game(_first_spec(name), 0)


# levels of the checkpointed adjoint compared with ``ForwardOnly``, per solver
_IDENTICAL = {"ZeroSumOMD": (2, 3), "GradientPlay": (1,)}


# XLA's default CPU fusion emitters, the compiler a user gets, for one
# compilation (``Lowered.compile``'s per-executable override of the process's
# XLA_FLAGS): the suite's loop emitters (``tests/conftest.py``) compile the fused
# steps of the two drivers' programs with different rounding (1 ulp on 3 of 36
# entries of ZeroSumOMD's iterates), although both do the same operations in
# the same order. Overriding the flag per program checks in this process what
# a child process with a clean XLA_FLAGS checked, without its start-up.
_USER_FUSION_EMITTERS = {"xla_cpu_use_fusion_emitters": True}


@pytest.mark.parametrize("name", sorted(_IDENTICAL))
def test_forward_numbers_identical_across_adjoints(name):
    """Same steps in the same order: the same bits as the ``fori_loop`` driver,
    with unequal segments (2, 2, 2, 3) and a tail of 2 steps, compiled with
    XLA's default CPU fusion emitters (``_USER_FUSION_EMITTERS``)."""
    solver, game = CATALOGUE_SOLVERS[name][0](), _first_game(name)
    run = jax.jit(
        lambda adjoint: M.solve(
            solver, game, 11, checkpoints=(2, 4, 6, 9), adjoint=adjoint
        ),
        static_argnums=0,
    )

    def compiled_run(adjoint):
        return run.lower(adjoint).compile(compiler_options=_USER_FUSION_EMITTERS)()

    want = compiled_run(M.ForwardOnly())
    for levels in _IDENTICAL[name]:
        got = compiled_run(M.RecursiveCheckpointAdjoint(levels))
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_array_equal(a, b)


SMOOTH = [name for name in CATALOGUE_SOLVERS if name not in NON_SMOOTH]
# Checkpoints at two stage ends of the finite catalogue Markov games (H = 3):
# two segments of unequal lengths (3 and 4), so two runs of segment scans.
# The other games (discounted, or the observed tree game of H = 2) have no
# stage ends there: one checkpoint at T, one segment of 7 steps (nested
# 3 + 3 + a remainder of 1). The unequal segments double the reverse program
# (each run of segments differentiates its own copy of the exact metric) and
# are checked on the finite Markov games' solvers (ZeroSumOMD, GeneralSumOMD).
STEPS, CPS, CPS_ONE = 7, (3, 7), (7,)


@pytest.mark.parametrize("name", SMOOTH)
def test_nash_conv_gradient_matches_central_differences(name):
    """d NashConv(T) / d(step size) and / d(initial logits), T = 7, float64.

    The finite differences run the default ``ForwardOnly`` driver (a
    ``fori_loop``), an independent loop. ``h = 1e-6`` against parameters of
    order one: the truncation error of the central difference is
    ``h^2 |f'''| / 6 ~ 1e-12 |f'''|`` and the rounding error about
    ``1e-16 |f| / h ~ 1e-10``, so a tolerance of ``1e-6`` (absolute plus
    relative) leaves two orders of margin over both while any error in the
    adjoint (a dropped term of one of seven steps) is far larger.
    """
    base, game = CATALOGUE_SOLVERS[name][0](), _first_game(name)
    spec = _first_spec(name)
    cps = CPS if not spec[2] and spec[4] == "markov" else CPS_ONE
    init0 = base.default_init(game, STEPS)
    key = jax.random.key(len(name))
    leaves, treedef = jax.tree.flatten(init0)
    keys = jax.random.split(key, 2 * len(leaves))
    logits0 = jax.tree.unflatten(
        treedef,
        [
            jnp.log(x) + 0.5 * jax.random.normal(k, x.shape)
            for x, k in zip(leaves, keys[: len(leaves)], strict=True)
        ],
    )
    direction = jax.tree.unflatten(
        treedef,
        [
            jax.random.normal(k, x.shape)
            for x, k in zip(leaves, keys[len(leaves) :], strict=True)
        ],
    )

    def objective(eta, logits, adjoint):
        solver = eqx.tree_at(lambda s: s.step_size, base, eta)
        init = jax.tree.map(lambda z: jax.nn.softmax(z, axis=-1), logits)
        sol = M.solve(solver, game, STEPS, init=init, checkpoints=cps, adjoint=adjoint)
        # the sum of the gains: NashConv, or for a correlated output (a
        # CCEReport) the sum of its CCE gains
        return jnp.sum(sol.trace.gains[-1], axis=-1)

    eta = jnp.asarray(base.step_size, jnp.float64)
    grad = jax.jit(jax.grad(lambda e, z: objective(e, z, ADJOINT), argnums=(0, 1)))
    d_eta, d_logits = grad(eta, logits0)
    f = jax.jit(lambda e, z: objective(e, z, M.ForwardOnly()))
    h = 1e-6
    fd_eta = (f(eta + h, logits0) - f(eta - h, logits0)) / (2 * h)
    shift = lambda c: jax.tree.map(lambda z, d: z + c * d, logits0, direction)  # noqa: E731
    fd_dir = (f(eta, shift(h)) - f(eta, shift(-h))) / (2 * h)
    ad_dir = sum(
        jnp.sum(a * d)
        for a, d in zip(
            jax.tree.leaves(d_logits), jax.tree.leaves(direction), strict=True
        )
    )
    for ad, fd in ((d_eta, fd_eta), (ad_dir, fd_dir)):
        assert abs(float(fd)) > 1e-4  # a derivative worth checking
        np.testing.assert_allclose(float(ad), float(fd), rtol=1e-6, atol=1e-6)


def test_solve_batch_gradient_in_batched_step_sizes(key):
    """Each game's NashConv depends on its own step size only, so one central
    difference of the whole batch gives every derivative."""
    games = G.random_zero_sum(key, 5, (2, 2), 2, 3, dtype=jnp.float64)
    etas = jnp.array([0.05, 0.1, 0.2, 0.1, 0.3])

    def nash_conv(etas, adjoint):
        sol = M.solve_batch(
            M.solvers.ZeroSumOMD(etas),
            games,
            20,
            batch_solver=True,
            chunk_size=2,
            adjoint=adjoint,
        )
        return sol.trace.nash_conv[:, -1]

    grad = jax.grad(lambda e: jnp.sum(nash_conv(e, ADJOINT)))(etas)
    h = 1e-6
    fd = nash_conv(etas + h, M.ForwardOnly()) - nash_conv(etas - h, M.ForwardOnly())
    np.testing.assert_allclose(grad, fd / (2 * h), rtol=1e-6, atol=1e-6)
    assert np.min(np.abs(grad)) > 1e-4


def test_forward_only_supports_forward_mode_not_reverse(key):
    game = G.unstack(G.random_zero_sum(key, 1, (2, 2), 2, 3, dtype=jnp.float64))[0]

    def nash_conv(eta, adjoint):
        sol = M.solve(M.solvers.ZeroSumOMD(eta), game, 20, adjoint=adjoint)
        return sol.trace.nash_conv[-1]

    jvp = jax.jit(
        lambda e: jax.jvp(lambda x: nash_conv(x, M.ForwardOnly()), (e,), (1.0,))
    )
    forward = jvp(0.1)[1]
    reverse = jax.jit(jax.grad(lambda e: nash_conv(e, ADJOINT)))(0.1)
    np.testing.assert_allclose(reverse, forward, rtol=1e-12)
    with pytest.raises(ValueError, match="Reverse-mode differentiation"):
        jax.eval_shape(jax.grad(lambda e: nash_conv(e, M.ForwardOnly())), 0.1)


def test_bad_adjoint_is_a_clear_error(key):
    game = G.unstack(G.random_zero_sum(key, 1, (2, 2), 2, 3))[0]
    with pytest.raises(ValueError, match="adjoint is 'checkpoint'; expected an"):
        M.solve(M.solvers.ZeroSumOMD(0.1), game, 3, adjoint="checkpoint")
