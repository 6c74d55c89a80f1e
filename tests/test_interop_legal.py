"""Legal-action masks: uniform play, best responses and solvers use legal
actions only; checked against a NumPy brute force over legal deterministic
policies (no marlmeta code in the reference)."""

import dataclasses
import itertools

import jax
import numpy as np
import pytest

import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.policies as P
import marlmeta.solvers as S
from tests.reference import finite_values

N_STATES, HORIZON, ACTIONS = 2, 2, (2, 3)


def _masked_game():
    """A random general-sum game whose illegal actions pay the most (so a best
    response that ignored the masks would pick them)."""
    rng = np.random.default_rng(7)
    shape = (HORIZON, N_STATES, *ACTIONS)
    masks = [rng.random((HORIZON, N_STATES, a)) < 0.6 for a in ACTIONS]
    for m in masks:
        m[..., 0] |= ~m.any(-1)  # at least one legal action
    masks[1][0, 0] = [False, True, False]  # a state with one legal action
    rewards = rng.random((2, *shape))
    rewards[0] += 5.0 * ~masks[0][..., :, None]
    rewards[1] += 5.0 * ~masks[1][..., None, :]
    probs = rng.dirichlet(np.ones(N_STATES), size=shape)
    base = G.markov_game(rewards, probs, np.array([0.3, 0.7]))
    game = dataclasses.replace(base, legal=G.LegalActions(masks))
    return game, rewards, probs, masks


def _brute_force_gains(rewards, probs, initial, policy, masks):
    """Per player: max over deterministic Markov policies with legal actions
    only, minus the policy's value (explicit enumeration)."""
    values = finite_values(rewards, probs, initial, policy)
    gains = []
    for i, m in enumerate(masks):
        cells = list(itertools.product(range(HORIZON), range(N_STATES)))
        choices = [np.flatnonzero(m[h, s]) for h, s in cells]
        best = -np.inf
        for pick in itertools.product(*choices):
            dev = np.zeros_like(policy[i])
            for (h, s), a in zip(cells, pick, strict=True):
                dev[h, s, a] = 1.0
            profile = [dev if j == i else p for j, p in enumerate(policy)]
            best = max(best, finite_values(rewards, probs, initial, profile)[i])
        gains.append(best - values[i])
    return np.array(gains)


def test_masked_nash_conv_equals_brute_force_over_legal_actions():
    game, rewards, probs, masks = _masked_game()
    pi = P.random_policy(game, key=jax.random.PRNGKey(3))
    for p, m in zip(pi, masks, strict=True):
        assert np.all(np.asarray(p)[~m] == 0.0)  # exactly 0, not small
    pi = tuple(np.asarray(p) for p in pi)
    want = _brute_force_gains(rewards, probs, np.array([0.3, 0.7]), pi, masks)
    np.testing.assert_allclose(E.gains(game, pi), want, atol=1e-12)
    np.testing.assert_allclose(E.nash_conv(game, pi), want.sum(), atol=1e-12)
    # Without the masks the illegal actions' bonus makes deviating pay more.
    free = dataclasses.replace(game, legal=G.AllLegal())
    assert float(E.nash_conv(free, pi)) > want.sum() + 1.0
    # The best responses are legal.
    br = game.evaluate(P.as_policy(pi), best=True).best_responses
    for b, m in zip(br, masks, strict=True):
        assert np.all(np.asarray(b)[~m] == 0.0)


def test_uniform_and_solver_start_are_uniform_over_legal_actions():
    game, *_, masks = _masked_game()
    for p, m in zip(P.uniform(game), masks, strict=True):
        np.testing.assert_array_equal(p, m / m.sum(-1, keepdims=True))
    start = S.GeneralSumOMD(0.1).default_init(game, 8)
    for p, m in zip(start, masks, strict=True):
        assert np.all(np.asarray(p)[:, ~m] == 0.0)
        np.testing.assert_allclose(np.asarray(p).sum(-1), 1.0)


def test_projected_q_descent_stays_on_legal_actions():
    import marlmeta as M

    game, *_, masks = _masked_game()
    sol = M.solve(S.ProjectedQDescent(0.5), game, 5)
    for p, m in zip(sol.policy, masks, strict=True):
        p = np.asarray(p)
        assert np.all(p[~m] == 0.0) and np.allclose(p.sum(-1), 1.0)
    # On the legal face the projection is the plain one of the legal entries.
    y = np.array([[[0.3, 2.0, -1.0]]])
    legal = G.LegalActions(
        [np.ones((1, 1, 2), bool), np.array([[[True, False, True]]])]
    )
    one = G.markov_game(np.zeros((2, 1, 1, 2, 3)), np.ones((1, 1, 2, 3, 1)), [1.0])
    one = dataclasses.replace(one, legal=legal)
    from marlmeta.games._legal import legal_face

    got = S.project_simplex(legal_face(one, (np.zeros((1, 1, 2)), y))[1])
    np.testing.assert_allclose(got, [[[1.0, 0.0, 0.0]]])


def test_all_legal_is_the_default_and_changes_no_number():
    game, *_ = _masked_game()
    free = dataclasses.replace(game, legal=G.AllLegal())
    plain = G.markov_game(free.rewards, free.transitions, free.initial)
    assert isinstance(plain.legal, G.AllLegal)
    pi = P.random_policy(plain, key=jax.random.PRNGKey(0))
    assert float(E.nash_conv(plain, pi)) == float(E.nash_conv(free, pi))


def test_masks_round_trip_through_game_files(tmp_path):
    game, *_, masks = _masked_game()
    G.save_game(tmp_path / "g.npz", game)
    back = G.load_game(tmp_path / "g.npz")
    assert isinstance(back.legal, G.LegalActions)
    for a, b in zip(back.legal.legal, masks, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_masks_are_refused():
    game, *_, masks = _masked_game()
    empty = [m.copy() for m in masks]
    empty[0][1, 0] = False
    with pytest.raises(ValueError, match=r"legal\[0\]\[1, 0\] has no legal action"):
        G.LegalActions(empty)
    with pytest.raises(ValueError, match=r"legal\[1\] has shape \(2, 2, 2\)"):
        dataclasses.replace(
            game, legal=G.LegalActions([masks[0], masks[1][..., :2] | True])
        )
    with pytest.raises(ValueError, match="legal has 1 masks; the game has 2"):
        dataclasses.replace(game, legal=G.LegalActions(masks[:1]))
    with pytest.raises(ValueError, match=r"legal\[0\] has dtype float"):
        G.LegalActions([m * 0.5 for m in masks])


def test_observations_need_the_same_legal_actions_per_observation():
    game, *_, masks = _masked_game()
    # Player 1 sees nothing: its two states at step 0 have different masks.
    obs = [np.arange(N_STATES)[None].repeat(HORIZON, 0), np.zeros((2, 2), int)]
    with pytest.raises(ValueError, match=r"legal\[1\]\[\d, \d\] is"):
        G.observe(game, obs, check=False)
    same = [m.copy() for m in masks]
    same[1][:] = masks[1][0, 0]
    ok = G.observe(
        dataclasses.replace(game, legal=G.LegalActions(same)), obs, check=False
    )
    tables = P.observation_uniform(ok).tables
    np.testing.assert_array_equal(tables[1][:, 0], [[0.0, 1.0, 0.0]] * 2)
    m0 = masks[0]
    np.testing.assert_array_equal(tables[0], m0 / m0.sum(-1, keepdims=True))
