"""Solver constructors reject bad concrete hyperparameters and skip traced ones."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
import marlmeta.games as G
from marlmeta.solvers import (
    AdaptiveOFTRL,
    GeneralSumOMD,
    GradientPlay,
    NaturalGradientPlay,
    ProjectedQDescent,
    ZeroSumOMD,
)

STEP_SIZE_SOLVERS = [
    ZeroSumOMD,
    GeneralSumOMD,
    AdaptiveOFTRL,
    ProjectedQDescent,
    GradientPlay,
    NaturalGradientPlay,
]


@pytest.mark.parametrize("cls", STEP_SIZE_SOLVERS)
@pytest.mark.parametrize(
    "bad, shown",
    [
        (-0.1, "-0.1"),
        (0.0, "0.0"),
        (0, "0"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (np.float32(-0.5), "-0.5"),
        (jnp.asarray(-2.0), "-2.0"),
    ],
)
def test_bad_step_size_raises_naming_value(cls, bad, shown):
    with pytest.raises(ValueError, match=rf"^step_size is {shown}; expected a finite"):
        cls(bad)


@pytest.mark.parametrize("cls", STEP_SIZE_SOLVERS)
@pytest.mark.parametrize("bad", ["0.1", b"0.1", {}, object()])
def test_step_size_that_is_not_numbers_raises_naming_it(cls, bad):
    with pytest.raises(ValueError, match=r"^step_size is .*; expected a number$"):
        cls(bad)


def test_other_hyperparameters_that_are_not_numbers_raise_naming_them():
    with pytest.raises(ValueError, match=r"^barrier is '0.1'; expected a number$"):
        GradientPlay(0.1, barrier="0.1")
    with pytest.raises(ValueError, match=r"^step_size is None; expected a number$"):
        ZeroSumOMD(None)


@pytest.mark.parametrize("cls", STEP_SIZE_SOLVERS)
def test_batched_step_size_names_the_index(cls):
    with pytest.raises(ValueError, match=r"^step_size\[1\] is -0.2; "):
        cls(jnp.array([0.1, -0.2, 0.3]))
    with pytest.raises(ValueError, match=r"^step_size\[2\] is nan; "):
        cls(np.array([0.1, 0.2, np.nan]))


@pytest.mark.parametrize("cls", STEP_SIZE_SOLVERS)
@pytest.mark.parametrize(
    "good", [0.1, 1, np.float64(0.3), np.array(0.2), np.array([0.1, 0.2])]
)
def test_good_step_sizes_accepted(cls, good):
    cls(good)


def test_other_hyperparameters():
    AdaptiveOFTRL()  # None: the theory step size
    GradientPlay(0.1, barrier=0.0)
    NaturalGradientPlay(0.1, barrier=np.array([0.0, 0.1]), clip=1.0)
    with pytest.raises(ValueError, match=r"^barrier is -0.01; expected .* >= 0"):
        GradientPlay(0.1, barrier=-0.01)
    with pytest.raises(ValueError, match=r"^barrier\[0\] is -1.0; "):
        NaturalGradientPlay(0.1, barrier=jnp.array([-1.0, 0.0]))
    with pytest.raises(ValueError, match=r"^clip is 0.0; expected .* > 0"):
        NaturalGradientPlay(0.1, clip=0.0)
    with pytest.raises(ValueError, match=r"^clip is nan"):
        NaturalGradientPlay(0.1, clip=float("nan"))


def test_traced_values_are_not_checked():
    # Under jit/vmap a step size is a tracer: it cannot be inspected.
    eta = jax.jit(lambda e: ZeroSumOMD(e).step_size)(-1.0)
    assert float(eta) == -1.0
    etas = jax.vmap(lambda e: GradientPlay(e, barrier=e).step_size)(jnp.ones(2))
    np.testing.assert_array_equal(etas, 1.0)


def test_rebuilding_a_batched_solver_does_not_recheck(key):
    # solve_batch takes one element with jax.tree.map and vmaps over the rest;
    # neither rebuild may trip the check (a gradient, e.g., may be negative).
    solver = ZeroSumOMD(jnp.array([0.1, 0.2]))
    one = jax.tree.map(lambda x: x[0], solver)
    assert isinstance(one, ZeroSumOMD) and one.step_size.shape == ()
    negated = jax.tree.map(lambda x: -x, solver)
    np.testing.assert_array_equal(negated.step_size, [-0.1, -0.2])
    games = G.random_zero_sum(key, 2, (2, 2), 2, 2, dtype=jnp.float64)
    out = M.solve_batch(solver, games, 5, batch_solver=True)
    assert out.trace.gains.shape[0] == 2
    out = jax.vmap(lambda s, g: M.solve(s, g, 5))(solver, games)
    assert bool(jnp.all(out.finite))
