"""Legal-action masks on discounted games.

References: a NumPy brute force on a tiny game with per-state masks (values by
a dense solve over the legal joint actions only; best responses and the
cooperative optimum by enumerating every deterministic policy over legal
actions), and, for the solvers, the same game with the illegal actions
deleted (a mask that is the same at every state deletes an action outright,
so the masked run must equal the smaller game's run on the legal entries).
"""

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta as M
from marlmeta import (
    evaluation as E,
    games as G,
    policies as P,
    simulation as S,
    solvers as V,
)

S_, A = 3, (3, 2)
GAMMA = 0.7


def arrays(seed=0, shared=False):
    rng = np.random.default_rng(seed)
    r = rng.uniform(size=(2, S_, *A))
    if shared:
        r = np.stack([r[0], r[0]])
    p = rng.dirichlet(np.ones(S_), (S_, *A))
    rho = rng.dirichlet(np.ones(S_))
    return r, p, rho


# Per-state masks: player 0 loses action 2 in state 0 and action 0 in state 1;
# player 1 loses action 1 in state 2.
M0 = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]], bool)
M1 = np.array([[1, 1], [1, 1], [1, 0]], bool)


def masked_game(shared=False):
    r, p, rho = arrays(shared=shared)
    return G.discounted_game(r, p, rho, GAMMA, legal=G.LegalActions([M0, M1]))


# --- NumPy reference ---------------------------------------------------------


def np_values(r, p, rho, pols):
    """``rho @ V_i`` of a product policy, summing legal joint actions only."""
    joint = np.einsum("sa,sb->sab", *pols) * np.einsum("sa,sb->sab", M0, M1)
    p_pi = np.einsum("sab,sabt->st", joint, p)
    r_pi = np.einsum("sab,isab->is", joint, r)
    v = np.linalg.solve(np.eye(S_) - GAMMA * p_pi, r_pi.T).T
    return v @ rho


def deterministic(masks):
    """Every deterministic policy over legal actions, as one-hot tables."""
    choices = [np.flatnonzero(row) for row in masks]
    for pick in itertools.product(*choices):
        yield np.eye(masks.shape[1])[list(pick)]


def np_nash_conv(r, p, rho, pols):
    base = np_values(r, p, rho, pols)
    gains = []
    for i, mask in enumerate((M0, M1)):
        best = max(
            np_values(r, p, rho, [d if j == i else pols[j] for j in range(2)])[i]
            for d in deterministic(mask)
        )
        gains.append(best - base[i])
    return sum(gains), gains


def np_optimum(r, p, rho):
    """``max`` over deterministic joint policies of legal joint actions."""
    return max(
        np_values(r, p, rho, [d0, d1])[0]
        for d0 in deterministic(M0)
        for d1 in deterministic(M1)
    )


# --- evaluation --------------------------------------------------------------


def test_uniform_values_best_responses_and_nash_conv_against_numpy():
    game = masked_game()
    r, p, rho = arrays()
    uni = P.uniform(game)
    want = M0 / M0.sum(-1, keepdims=True), M1 / M1.sum(-1, keepdims=True)
    for got, w in zip(uni, want, strict=True):
        np.testing.assert_array_equal(got, w)
    pols = [
        np.asarray(t)
        for t in P.random_policy(game, key=jax.random.key(1), dtype=jnp.float64)
    ]
    assert not (pols[0][~M0]).any() and not (pols[1][~M1]).any()
    for pol in (list(uni), pols):
        np.testing.assert_allclose(
            E.values(game, tuple(pol)), np_values(r, p, rho, pol), atol=1e-12
        )
        nc, gains = np_nash_conv(r, p, rho, pol)
        np.testing.assert_allclose(E.nash_conv(game, tuple(pol)), nc, atol=1e-10)
        np.testing.assert_allclose(E.gains(game, tuple(pol)), gains, atol=1e-10)
    br = game.evaluate(P.ProductPolicy(tuple(pols)), best=True).best_responses
    assert not np.asarray(br[0])[~M0].any() and not np.asarray(br[1])[~M1].any()
    # An illegal action in a policy is refused by every metric.
    bad = (np.full((S_, 3), 1 / 3), want[1])
    with pytest.raises(ValueError, match="action 2 of player 0 at state 0"):
        E.nash_conv(game, bad)


def test_iterative_best_responses_and_cooperative_optimum():
    game = masked_game(shared=True)
    r, p, rho = arrays(shared=True)
    iterative = G.discounted_game(
        r, p, rho, GAMMA, legal=game.legal, linear_solver="iterative"
    )
    uni = P.uniform(game)
    nc, _ = np_nash_conv(r, p, rho, list(uni))
    np.testing.assert_allclose(E.nash_conv(iterative, uni), nc, atol=1e-8)
    gap = np_optimum(r, p, rho) - np_values(r, p, rho, list(uni))[0]
    for g in (game, iterative):
        np.testing.assert_allclose(E.optimality_gap(g, uni), gap, atol=1e-8)


# --- solvers: masked equals deleted -------------------------------------------


def no_metric(game, policy):
    """Nothing traced (the runs' policies are compared directly)."""
    del game, policy
    return jnp.zeros(())


def deleted_pair():
    """A cooperative game where player 0's action 2 is illegal everywhere, and
    the same game with that action deleted."""
    r, p, rho = arrays(seed=3, shared=True)
    m0 = np.ones((S_, 3), bool)
    m0[:, 2] = False
    legal = G.LegalActions([m0, np.ones((S_, 2), bool)])
    masked = G.discounted_game(r, p, rho, GAMMA, legal=legal)
    small = G.discounted_game(r[:, :, :2], p[:, :2], rho, GAMMA)
    return masked, small


@pytest.mark.parametrize(
    "solver",
    [
        V.GradientPlay(2.0, barrier=0.05),
        V.NaturalGradientPlay(0.5, barrier=0.05, clip=1.0),
        V.MultiAgentPPO(1.0),
    ],
    ids=["gradient_play", "natural_gradient_play", "ma_ppo"],
)
def test_masked_run_equals_the_deleted_game(solver):
    masked, small = deleted_pair()
    big, ref = (M.solve(solver, g, 8, metric=no_metric).policy for g in (masked, small))
    joint_big = np.asarray(P.as_policy(big).joint())
    joint_ref = np.asarray(P.as_policy(ref).joint())
    assert not joint_big[:, 2].any()  # the illegal action: probability 0
    np.testing.assert_allclose(joint_big[:, :2], joint_ref, atol=1e-10)


def test_log_linear_ma_ppo_variants_start_and_stay_legal():
    masked, _ = deleted_pair()
    features = V.one_hot_features(masked)
    key = jax.random.key(4)
    for solver in (
        V.LogLinearMAPPO(1.0, features, radius=10.0),
        V.SampledMAPPO(1.0, features, key, num_samples=16, rollout_steps=8),
        V.PessimisticMAPPO(1.0, features, key, num_samples=16),
    ):
        sol = M.solve(solver, masked, 2, metric=no_metric)
        joint = np.asarray(sol.policy.joint())
        assert not joint[:, 2].any() and np.isfinite(joint).all(), solver


# --- simulation, environment, files --------------------------------------------


def test_simulate_and_environment_respect_the_masks(tmp_path):
    game = masked_game()
    uni = P.uniform(game)
    eps = S.simulate(game, uni, jax.random.key(0), 2000, num_steps=5)
    s, a = np.asarray(eps.states), np.asarray(eps.actions)
    assert M0[s, a[..., 0]].all() and M1[s, a[..., 1]].all()
    with pytest.raises(ValueError, match="illegal"):
        S.simulate(game, (np.full((S_, 3), 1 / 3), uni[1]), jax.random.key(0), 10)

    env = S.MarkovGameEnv(game, num_steps=5)
    _, state = env.reset(jax.random.key(1))
    state = S.EnvState(jnp.asarray(0), state.step, state.done)
    avail = env.get_avail_actions(state)
    np.testing.assert_array_equal(avail["agent_0"], M0[0])
    # Action 2 of agent 0 is illegal in state 0: played as its first legal (0).
    key = jax.random.key(2)
    out_bad = env.step_env(key, state, {"agent_0": 2, "agent_1": 1})
    out_first = env.step_env(key, state, {"agent_0": 0, "agent_1": 1})
    for x, y in zip(jax.tree.leaves(out_bad), jax.tree.leaves(out_first), strict=True):
        np.testing.assert_array_equal(x, y)

    path = tmp_path / "masked.npz"
    G.save_game(path, game)
    back = G.load_game(path)
    for m, w in zip(back.legal.legal, (M0, M1), strict=True):
        np.testing.assert_array_equal(m, w)
    np.testing.assert_allclose(E.nash_conv(back, uni), E.nash_conv(game, uni))

    # A file written before discounted games had ``legal``: all actions legal.
    G.save_game(path, G.discounted_game(*arrays(), GAMMA))
    with np.load(path) as data:
        saved = {k: data[k] for k in data.files}
    header = json.loads(saved["header"].tobytes().decode())
    del header["tree"]["fields"]["legal"]
    saved["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **saved)
    assert isinstance(G.load_game(path).legal, G.AllLegal)


def test_bad_masks_are_named():
    r, p, rho = arrays()
    empty = M0.copy()
    empty[1] = False
    with pytest.raises(ValueError, match=r"legal\[0\]\[1\] has no legal action"):
        G.discounted_game(r, p, rho, GAMMA, legal=G.LegalActions([empty, M1]))
    with pytest.raises(ValueError, match=r"legal\[1\] has shape \(3, 3\)"):
        G.discounted_game(
            r, p, rho, GAMMA, legal=G.LegalActions([M0, np.ones((3, 3), bool)])
        )
