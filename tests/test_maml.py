"""MAML for Markov potential games (Mao et al. section 4.2): exact meta-gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import marlmeta as M
import marlmeta.games as G


# The games and logits are drawn by jitted programs (one per shape): eagerly
# every random draw (the Dirichlet kernels' gamma samplers are while loops),
# slice and product compiled a program of its own.
@functools.partial(jax.jit, static_argnums=(1, 2))
def _theta(key, num_states, num_actions):
    keys = jax.random.split(key, len(num_actions))
    return tuple(
        jax.random.normal(k, (num_states, a), jnp.float64)
        for k, a in zip(keys, num_actions, strict=True)
    )


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _potential_games(key, num_games, num_actions, num_states, discount, dtype):
    return G.random_potential(
        key, num_games, num_actions, num_states, discount=discount, dtype=dtype
    )


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _potential_game(key, num_actions, num_states, discount):
    """The first game of ``random_potential(key, 1, ...)`` in float64."""
    games = G.random_potential(
        key, 1, num_actions, num_states, discount=discount, dtype=jnp.float64
    )
    return jax.tree.map(lambda x: x[0], games)


def _flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


def _eq46(game, theta, inner_steps, alpha):
    """``grad F_T`` by Mao et al. eq. (46), right to left with exact
    Hessian-vector products over the iterates of eq. (44): a reference
    independent of the driver's reverse mode."""

    def body(t, _):
        return M.solvers.gradient_step(game, t, alpha), t

    final, iterates = jax.lax.scan(body, theta, None, length=inner_steps)

    def back(v, t):
        hv = M.evaluation.potential_hvp(game, t, v)
        return jax.tree.map(lambda a, b: a + alpha * b, v, hv), None

    v = M.evaluation.potential_gradient(game, final)
    return jax.lax.scan(back, v, iterates, reverse=True)[0]


# Compiled once per module (inner steps static): eagerly every operation
# compiles on its own and every eager scan is re-traced and re-compiled.
_maml_gradient = jax.jit(
    M.meta.maml_gradient, static_argnums=2, static_argnames="first_order"
)
_gradient_step = jax.jit(M.solvers.gradient_step)


@pytest.mark.parametrize(
    "num_actions, inner_steps, alpha",
    [((2, 2), 1, 0.5), ((2, 3), 10, 0.3), ((2, 3, 2), 25, 0.2)],
)
def test_meta_gradient_equals_eq46_product_formula(
    key, num_actions, inner_steps, alpha
):
    games = _potential_games(key, 3, num_actions, 3, 0.9, jnp.float64)
    thetas = jax.vmap(lambda k: _theta(k, 3, num_actions))(jax.random.split(key, 3))
    both = jax.jit(
        jax.vmap(
            lambda g, t: (
                _eq46(g, t, inner_steps, alpha),
                M.meta.maml_gradient(g, t, inner_steps, alpha),
            )
        )
    )
    product, reverse = both(games, thetas)
    np.testing.assert_allclose(_flat(product), _flat(reverse), atol=1e-8)
    assert np.max(np.abs(_flat(product))) > 1e-3  # not trivially zero


def test_meta_gradient_matches_finite_differences(key):
    game = _potential_game(key, (2, 3), 2, 0.8)
    theta = _theta(jax.random.key(1), 2, (2, 3))
    flat, unravel = ravel_pytree(theta)
    f = jax.jit(lambda x: M.meta.maml_objective(game, unravel(x), 5, 0.4))
    eps = 1e-6
    fd = [
        (f(flat + eps * e) - f(flat - eps * e)) / (2 * eps) for e in np.eye(flat.size)
    ]
    got = _flat(_maml_gradient(game, theta, 5, 0.4))
    np.testing.assert_allclose(got, fd, atol=1e-8)


def test_zero_inner_steps_and_first_order(key):
    game = _potential_game(key, (3, 2), 2, 0.8)
    theta = _theta(jax.random.key(2), 2, (3, 2))

    # Every quantity but the step-by-step reference in one compiled program
    # (seven small programs before); the reference keeps its own program of
    # one step, run four times, independent of the inner loop's scans.
    @jax.jit
    def quantities(game, theta):
        final = M.meta.inner_loop(game, theta, 4, 0.5)
        return {
            "phi": M.evaluation.softmax_potential(game, theta),
            "objective_0": M.meta.maml_objective(game, theta, 0, 0.5),
            "gradient_0": M.meta.maml_gradient(game, theta, 0, 0.5),
            "grad_phi": M.evaluation.potential_gradient(game, theta),
            "final": final,
            "first_order": M.meta.maml_gradient(game, theta, 4, 0.5, first_order=True),
            "grad_phi_final": M.evaluation.potential_gradient(game, final),
        }

    q = quantities(game, theta)
    assert float(q["objective_0"]) == pytest.approx(float(q["phi"]))
    np.testing.assert_allclose(_flat(q["gradient_0"]), _flat(q["grad_phi"]), atol=1e-14)
    expected = theta
    for _ in range(4):  # eq. (44), step by step
        expected = _gradient_step(game, expected, 0.5)
    np.testing.assert_allclose(_flat(q["final"]), _flat(expected), atol=1e-14)
    np.testing.assert_allclose(
        _flat(q["first_order"]), _flat(q["grad_phi_final"]), atol=1e-14
    )
    # The inner step (eq. 44) is gradient ascent on Phi in a potential game.
    step = _gradient_step(game, theta, 0.5)
    np.testing.assert_allclose(
        _flat(step), _flat(theta) + 0.5 * _flat(q["grad_phi"]), atol=1e-14
    )


def test_outer_loop_with_sgd_is_eq47(key):
    games = _potential_games(key, 4, (2, 2), 2, 0.8, jnp.float64)
    theta = _theta(jax.random.key(3), 2, (2, 2))
    # jitted: one program (eagerly, every operation around the outer scan
    # compiled on its own)
    run = jax.jit(lambda g, t, k: M.meta.maml(g, t, optax.sgd(0.7), 2, 3, 0.5, key=k))(
        games, theta, jax.random.key(4)
    )

    # The reference: meta-gradients and objectives of the whole pool at a
    # meta-parameter, one program (inner steps and step size fixed) run twice.
    @jax.jit
    def reference(games, theta):
        grads = jax.vmap(M.meta.maml_gradient, in_axes=(0, None, None, None))
        objectives = jax.vmap(M.meta.maml_objective, in_axes=(0, None, None, None))
        return grads(games, theta, 3, 0.5), objectives(games, theta, 3, 0.5)

    expected = theta
    for _ in range(2):
        g = reference(games, expected)[0]
        expected = jax.tree.map(lambda t, x: t + 0.7 * jnp.mean(x, 0), expected, g)
    np.testing.assert_allclose(_flat(run.theta), _flat(expected), atol=1e-12)
    assert float(run.objective[0]) == pytest.approx(
        float(jnp.mean(reference(games, theta)[1])), abs=1e-12
    )


def test_maml_lowers_held_out_ne_gap_versus_uniform(key):
    """A family of perturbed identical-interest games: after meta-training,
    T = 3 inner steps from MAML's initialisation beat T steps from uniform."""

    @jax.jit
    def pools(key):
        base = jax.tree.map(
            lambda x: x[0],
            G.random_identical_interest(
                key, 1, (3, 3), 3, discount=0.8, dtype=jnp.float64
            ),
        )
        pool = G.perturb_rewards(
            jax.random.key(5), base, 24, 0.05, coupling="identical"
        )
        return jax.tree.map(lambda x: x[:16], pool), jax.tree.map(
            lambda x: x[16:], pool
        )

    train, held = pools(key)  # one program (eagerly: one per operation)
    zero = tuple(jnp.zeros((3, 3), jnp.float64) for _ in range(2))
    run = jax.jit(
        lambda g, t, k: M.meta.maml(
            g, t, optax.adam(0.2), 60, 3, 0.5, key=k, batch_size=8
        )
    )(train, zero, jax.random.key(6))
    assert float(run.objective[-5:].mean()) > float(run.objective[0]) + 0.1
    gap = jax.jit(
        jax.vmap(M.meta.adapted_ne_gap, in_axes=(0, None, None, None)),
        static_argnums=(2, 3),
    )
    meta_gap = float(jnp.mean(gap(held, run.theta, 3, 0.5)))
    uniform_gap = float(jnp.mean(gap(held, zero, 3, 0.5)))
    assert meta_gap < 0.5 * uniform_gap
    assert bool(jnp.all(jnp.isfinite(run.ne_gap_random))) and bool(run.finite)


def test_bad_inputs_are_clear_errors(key):
    games = _potential_games(key, 3, (2, 2), 2, 0.8, jnp.float64)
    theta = _theta(key, 2, (2, 2))
    with pytest.raises(ValueError, match="batch_size is 5; expected 1 <= b <= 3"):
        M.meta.maml(games, theta, optax.sgd(0.1), 1, 1, 0.5, key=key, batch_size=5)
    finite = G.zoo.mao2023_identical_interest(horizon=2)
    with pytest.raises(ValueError, match="GradientPlay needs a DiscountedMarkovGame"):
        M.solve(M.solvers.GradientPlay(0.1), finite, 3)
    with pytest.raises(ValueError, match="finite-horizon games with a potential"):
        M.meta.potential_similarity(games)


def test_float32_meta_gradients_agree(key):
    games = _potential_games(key, 1, (3, 3), 4, 0.9, jnp.float32)
    theta = tuple(jnp.zeros((4, 3), jnp.float32) for _ in range(2))

    # one compiled program for both (eagerly the reference's scans re-trace)
    @jax.jit
    def both(games, theta):
        game = jax.tree.map(lambda x: x[0], games)
        return _eq46(game, theta, 5, 0.5), M.meta.maml_gradient(game, theta, 5, 0.5)

    product, reverse = both(games, theta)
    assert reverse[0].dtype == jnp.float32
    np.testing.assert_allclose(_flat(product), _flat(reverse), atol=1e-5)
