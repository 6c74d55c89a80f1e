"""Zhang et al. Theorem 4 (asymptotic convergence of softmax gradient play to a
NE): the step-size conditions, the checks read from a run, the proof's ascent
step (Lemma 14) on random potential games, and convergence to the NE on a
hand-worked game."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import marlmeta as M
import marlmeta.games as G
from marlmeta import theory as Th

S, ACTS, T, BATCH = 2, (2, 3), 25, 4
_rules = jax.jit(Th.zhang_theorem4_step_size)


def _matrix(reward):
    r = jnp.asarray(reward, jnp.float64)[None]  # one state, gamma = 0
    return G.discounted_game(
        jnp.stack([r, r]), jnp.ones((1, *r.shape[1:], 1)), [1.0], 0.0
    )


def test_step_sizes_hand_worked():
    # r = [[2, 0], [0, 0]] (range 2), n = 2, gamma = 0: (1)^3 / (6 * 2 * 2)
    # and 1 / (2 * 2 * 2); one state, so Assumption 1 holds.
    rules = _rules(_matrix([[2.0, 0.0], [0.0, 0.0]]))
    assert float(rules.gradient_play) == pytest.approx(1 / 24)
    assert float(rules.natural_gradient_play) == pytest.approx(1 / 8)
    assert bool(rules.visits_every_state)


def test_theorem4_check_written_out():
    gap = [0.5, 0.3, 0.2, 0.1, 0.05, 0.04, 0.06, 0.01]
    phi = [0.1, 0.2, 0.3, 0.3 - 1e-3, 0.4, 0.45, 0.46, 0.47]
    c = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99]
    out = Th.zhang_theorem4(gap, phi, c, 0.1, 0.2)
    assert bool(out.applies) and not bool(out.potential_monotone)
    assert float(out.min_potential_increase) == pytest.approx(-1e-3)
    # the last quarter of 8 iterates: 0.06, 0.01
    assert float(out.tail_ne_gap) == 0.06 and float(out.last_ne_gap) == 0.01
    assert float(out.last_lojasiewicz) == 0.99
    phi[3] = 0.3  # a flat step is monotone
    out = Th.zhang_theorem4(gap, phi, c, 0.3, 0.2)
    assert bool(out.potential_monotone) and not bool(out.applies)
    with pytest.raises(ValueError, match="ne_gap has shape"):
        Th.zhang_theorem4([0.1], [0.1], [0.1], 0.1, 0.1)
    with pytest.raises(ValueError, match="lojasiewicz has shape"):
        Th.zhang_theorem4(gap, phi, c[:3], 0.1, 0.1)


@jax.jit
def _ascent(keys, fraction):
    """Per game, gradient play and natural gradient play at ``fraction`` of
    the rules from a random start: ``Phi`` and ``||grad Phi||^2`` at every
    iterate."""

    def one(key):
        k1, k2 = jr.split(key)
        g = G.unstack(
            G.random_identical_interest(k1, 1, ACTS, S, discount=0.5, dtype=jnp.float64)
        )[0]
        init = tuple(
            jax.nn.softmax(jr.normal(k, (S, a), jnp.float64), -1)
            for k, a in zip(jr.split(k2), ACTS, strict=True)
        )
        out = []
        for solver, rule in (
            (M.solvers.GradientPlay, Th.gradient_play_step_size),
            (M.solvers.NaturalGradientPlay, Th.natural_gradient_play_step_size),
        ):
            s = solver(fraction * rule(g))

            def body(theta, _, s=s):
                grad = M.evaluation.potential_gradient(g, theta)
                norm2 = sum(jnp.sum(x**2) for x in grad)
                phi = M.evaluation.softmax_potential(g, theta)
                return s.step(g, theta), (phi, norm2)

            _, (phi, norm2) = jax.lax.scan(body, s.init(g, init), length=T)
            out.append((s.step_size, rule(g), phi, norm2))
        return out

    return jax.vmap(one)(keys)


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.2, 1.0))
def test_potential_ascent_on_random_potential_games(seed, fraction):
    gp, ngp = _ascent(jr.split(jr.key(seed), BATCH), fraction)
    eta, _, phi, norm2 = (np.asarray(x) for x in gp)
    # Lemma 14: Phi(theta^{t+1}) - Phi(theta^t) >= (eta / 2) ||grad Phi||^2
    rise = np.diff(phi, axis=1)
    assert np.all(rise >= eta[:, None] / 2 * norm2[:, :-1] - 1e-12)
    for eta, rule, phi, _ in (gp, ngp):  # Lemmas 14 and 20: Phi is monotone
        out = jax.vmap(Th.zhang_theorem4)(phi, phi, phi, eta, rule)
        assert np.all(out.potential_monotone) and np.all(out.applies)


def test_natural_gradient_play_reaches_the_nash_equilibrium():
    # r = [[1, 0], [0, 0]] from uniform: the iterates go to the NE (0, 0),
    # where the NE-gap is 0 and c = 1 (Lemma 2).
    g = _matrix([[1.0, 0.0], [0.0, 0.0]])
    eta = _rules(g).natural_gradient_play
    traj = jax.jit(
        lambda g: Th.softmax_trajectory(M.solvers.NaturalGradientPlay(eta), g, 60)
    )(g)
    out = Th.zhang_theorem4(traj.ne_gap, traj.potential, traj.lojasiewicz, eta, eta)
    assert bool(out.applies) and bool(out.potential_monotone)
    assert float(out.tail_ne_gap) < 1e-3 < float(traj.ne_gap[0])
    assert float(out.last_lojasiewicz) > 0.999
