"""The structured poker path (PrivateTypeGame: a hand pair times the betting,
pooled by contractions) equals the generic one (ObservedGame over the list of
deals, pooled by scatter) on Kuhn poker and on river endgames with pruned
ranges: values, gains, NashConv, the full-state bound and every solver's
iterates, to 1e-12 in float64."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta.games import zoo

jax.config.update("jax_enable_x64", True)

W = np.zeros((2, 1326))
W[0, 40:1326:90] = 1.0  # a few hands each, some sharing cards
W[1, 7:1326:70] = np.linspace(0.5, 2.0, len(range(7, 1326, 70)))
NAMES = ["kuhn", "river", "river3"]


def _pair(name):
    if name == "kuhn":
        return (
            zoo.kuhn_poker(jnp.float64),
            zoo.kuhn_poker(jnp.float64, structured=True),
        )
    variant = "bet_call" if name == "river" else "check_bet_call"
    kw = {"ranges": (W[0], W[1]), "variant": variant, "dtype": jnp.float64}
    return zoo.river_endgame(**kw), zoo.river_endgame(**kw, structured=True)


def _random_tables(game, seed):
    rng = np.random.default_rng(seed)
    return [
        rng.dirichlet(np.ones(a), size=(game.horizon, o))
        for o, a in zip(game.num_observations, game.num_actions, strict=True)
    ]


@pytest.mark.parametrize("name", NAMES)
def test_metrics_agree(name):
    generic, structured = _pair(name)
    assert generic.num_observations == structured.num_observations
    tables = _random_tables(generic, 0)

    @eqx.filter_jit  # compiled, not eager (op by op)
    def metrics(game):
        pol = M.policies.observation_policy(game, tables)
        rep = M.evaluation.report(game, pol)
        full = M.evaluation.full_state_nash_conv(game, pol)
        return rep.values, rep.gains, rep.nash_conv, full

    for a, b in zip(metrics(generic), metrics(structured), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", NAMES[:2])
def test_solver_iterates_agree(name):
    generic, structured = _pair(name)
    solvers = (M.solvers.ObservedZeroSumOMD(0.7),)
    if name == "kuhn":  # every observation solver, on the small game
        solvers += (M.solvers.CounterfactualOMD(30.0), M.solvers.CFRPlus())
    # compiled, not eager (an eager solve dispatches op by op)
    run = eqx.filter_jit(lambda s, g: M.solve(s, g, 7, checkpoints=(3, 7)))
    for solver in solvers:  # 7 iterations: three stage ends of Algorithm 1
        a, b = run(solver, generic), run(solver, structured)
        for x, y in zip(a.policy.tables, b.policy.tables, strict=True):
            np.testing.assert_allclose(x, y, atol=1e-12, rtol=0)
        np.testing.assert_allclose(
            a.trace.nash_conv, b.trace.nash_conv, atol=1e-12, rtol=0
        )
        for x, y in zip(
            jax.tree.leaves(a.stats), jax.tree.leaves(b.stats), strict=True
        ):
            np.testing.assert_allclose(x, y, atol=1e-12, rtol=0)


def test_structured_family_equals_generic_family():
    kw = {"ranges": (W[0], W[1]), "dtype": jnp.float64}
    generic = zoo.river_endgame_family(3, 2, **kw)
    structured = zoo.river_endgame_family(3, 2, **kw, structured=True)
    tables = _random_tables(M.games.unstack(generic)[0], 1)

    @eqx.filter_jit  # one program per layout, not eager (op by op) per game
    def nash_conv(game):
        return M.evaluation.nash_conv(game, M.policies.observation_policy(game, tables))

    for g, s in zip(M.games.unstack(generic), M.games.unstack(structured), strict=True):
        np.testing.assert_allclose(nash_conv(g), nash_conv(s), atol=1e-12, rtol=0)


def test_observation_maps_and_sampling_agree_on_kuhn():
    generic, structured = _pair("kuhn")
    # On every deal and betting slot, the structured game's materialised maps
    # see what the generic game's maps see.
    obs = [np.asarray(o) for o in structured.observations]
    gobs = [np.asarray(o) for o in generic.observations]
    deals = [(a, b) for a in range(3) for b in range(3) if a != b]
    for k, (a, b) in enumerate(deals):
        d = a * 3 + b
        for p, gs in ((0, k), (1, 6 + k), (2, 12)):  # A(d) = d, B(d) = N + d, end
            for i in range(2):
                for h in range(3):
                    assert obs[i][h, d * 3 + p] == gobs[i][h, gs], (i, h, d, p)
    pol = M.policies.observation_policy(structured, _random_tables(structured, 2))
    for h in range(3):
        step = pol.at(h)
        for s in range(structured.num_states):
            for i in range(2):
                assert int(step.observation(i, s)) == obs[i][h, s]
