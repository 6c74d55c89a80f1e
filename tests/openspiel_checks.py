"""OpenSpiel normal-form games in and out; exploitability against OpenSpiel's own.

Not collected by the suite directly: ``tests/test_interop_child_checks.py`` runs
this file in a child process, so that OpenSpiel's C++ extension (which exports
its own copy of abseil) is never loaded into a test worker that goes on to
compile XLA programs.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.evaluation as E
import marlmeta.games as G
import marlmeta.interop as I
import marlmeta.policies as P

pyspiel = pytest.importorskip(
    "pyspiel", reason="open_spiel is not installed (pip install 'marlmeta[openspiel]')"
)
from open_spiel.python import policy as os_policy  # noqa: E402
from open_spiel.python.algorithms import exploitability as os_expl  # noqa: E402


def test_rock_paper_scissors_round_trip():
    game = I.from_openspiel_normal_form(pyspiel.load_game("matrix_rps"))
    np.testing.assert_array_equal(game.rewards, G.zoo.rock_paper_scissors().rewards)
    back = I.to_openspiel(game)
    assert back.num_players() == 2 and back.num_distinct_actions() == 3
    np.testing.assert_array_equal(
        I.to_normal_form(I.from_openspiel_normal_form(back)), I.to_normal_form(game)
    )


def test_three_player_tensor_round_trip():
    payoffs = np.random.default_rng(0).normal(size=(3, 2, 3, 2))
    os_game = I.to_openspiel(I.from_normal_form(payoffs))
    assert os_game.num_players() == 3
    np.testing.assert_allclose(
        np.stack(I.to_normal_form(I.from_openspiel_normal_form(os_game))),
        payoffs,
        atol=1e-15,
    )


def test_general_sum_nash_conv_matches_openspiel():
    A = np.array([[3.0, -1.0, 0.5], [-2.0, 1.0, 0.0]])
    B = np.array([[-1.0, 2.0, 0.0], [1.5, -0.5, 1.0]])
    x, y = np.array([0.3, 0.7]), np.array([0.2, 0.5, 0.3])
    turns = pyspiel.convert_to_turn_based(pyspiel.create_matrix_game(A, B))
    pol = os_policy.TabularPolicy(turns)
    for k, state in enumerate(pol.states):
        p = (x, y)[state.current_player()]
        pol.action_probability_array[k] = np.pad(p, (0, 3 - len(p)))
    game = I.from_openspiel_normal_form(pyspiel.create_matrix_game(A, B))
    pi = (x[None, None], y[None, None])
    np.testing.assert_allclose(
        E.nash_conv(game, pi), os_expl.nash_conv(turns, pol), atol=1e-12
    )


def test_kuhn_poker_exploitability_is_openspiels():
    kuhn = pyspiel.load_game("kuhn_poker")
    ours = G.zoo.kuhn_poker(jnp.float64)
    uniform = P.observation_uniform(ours)
    theirs = os_expl.exploitability(kuhn, os_policy.UniformRandomPolicy(kuhn))
    np.testing.assert_allclose(E.exploitability(ours, uniform), theirs, atol=1e-12)
    np.testing.assert_allclose(theirs, 0.458333333, atol=1e-9)


def test_refuses_sequential_games():
    with pytest.raises(ValueError, match="normal-form games"):
        I.from_openspiel_normal_form(pyspiel.load_game("kuhn_poker"))
    with pytest.raises(ValueError, match="horizon 5 and 2 states"):
        I.to_openspiel(G.unstack(G.random_general_sum(jnp.zeros(2, jnp.uint32), 1))[0])


def _tabular(os_game, names, tables):
    """OpenSpiel's tabular policy with marlmeta's observation-table rows."""
    pol = os_policy.TabularPolicy(os_game)
    for k, state in enumerate(pol.states):
        i = state.current_player()
        o = names[i].index(state.information_state_string(i))
        pol.action_probability_array[k] = tables[i][o]
    return pol


@pytest.mark.parametrize(
    ("name", "seed", "sizes"),
    [
        ("kuhn_poker", 0, (3, 13, (2, 2))),
        ("kuhn_poker(players=3)", 2, (5, 97, (2, 2, 2))),
    ],
)
def test_kuhn_tree_nash_conv_matches_openspiel(name, seed, sizes):
    os_game = pyspiel.load_game(name)
    game, names = I.from_openspiel_tree(os_game)
    assert (game.horizon, game.num_states, game.num_actions) == sizes
    assert names[0][0] == "terminal" and len(names[0]) == game.num_observations[0]
    # One row per observation, shared by the steps it appears at.
    rng = np.random.default_rng(seed)
    rows = [rng.dirichlet([1.0, 1.0], size=o) for o in game.num_observations]
    tables = [np.broadcast_to(r, (game.horizon, *r.shape)) for r in rows]
    pi = P.observation_policy(game, tables)
    theirs = _tabular(os_game, names, rows)
    conv = os_expl.nash_conv(os_game, theirs)
    np.testing.assert_allclose(E.nash_conv(game, pi), conv, atol=1e-12)
    np.testing.assert_allclose(
        E.exploitability(game, pi), conv / len(sizes[2]), atol=1e-12
    )
    if game.num_players == 3:  # OpenSpiel's exploitability is for two players
        return
    np.testing.assert_allclose(
        E.exploitability(game, pi), os_expl.exploitability(os_game, theirs), atol=1e-12
    )
    # marlmeta's own Kuhn poker gives the same values for uniform play.
    uniform = P.observation_uniform(game)
    zoo = G.zoo.kuhn_poker(jnp.float64)
    np.testing.assert_allclose(
        E.values(game, uniform), E.values(zoo, P.observation_uniform(zoo)), atol=1e-12
    )


def test_simultaneous_tree_matches_normal_form():
    os_game = pyspiel.load_game("matrix_pd")
    tree, _ = I.from_openspiel_tree(os_game)
    flat = I.from_openspiel_normal_form(os_game)
    assert tree.horizon == 1
    x, y = np.array([0.3, 0.7]), np.array([0.6, 0.4])
    tree_pi = P.observation_policy(
        tree, [np.stack([[0.5, 0.5], x])[None], np.stack([[0.5, 0.5], y])[None]]
    )
    np.testing.assert_allclose(
        E.gains(tree, tree_pi),
        E.gains(flat, (x[None, None], y[None, None])),
        atol=1e-12,
    )


def _legal_masks(game):
    """Per player the legal mask ``(H, O_i, A_i)`` of its observations."""
    masks = game.legal.per_observation(
        game.lead_shape, game.num_actions, game.observations, game.num_observations
    )
    return [np.asarray(m) for m in masks]


@pytest.fixture(scope="module")
def leduc():
    # Suits folded together: Leduc's betting rounds and illegal moves on 217
    # states instead of 1081 (the full game is in benchmarks/interop.py).
    os_game = pyspiel.load_game("leduc_poker(suit_isomorphism=True)")
    game, names = I.from_openspiel_tree(os_game)
    return os_game, game, names


def test_leduc_with_masks_matches_openspiel(leduc):
    os_game, game, names = leduc
    assert (game.horizon, game.num_states, game.num_actions) == (8, 217, (3, 3))
    masks = _legal_masks(game)
    legal = [m.all(axis=0) for m in masks]  # each observation is at one step
    assert not legal[0][1:].all()  # fold or raise is illegal somewhere
    # Uniform over legal actions is OpenSpiel's uniform random policy.
    uniform = P.observation_uniform(game)
    for t, m in zip(uniform.tables, masks, strict=True):
        assert np.all(np.asarray(t)[~m] == 0.0)
    theirs = os_expl.nash_conv(os_game, os_policy.UniformRandomPolicy(os_game))
    np.testing.assert_allclose(E.nash_conv(game, uniform), theirs, atol=1e-9)
    # A Dirichlet policy per information state, on its legal actions only.
    rng = np.random.default_rng(5)
    rows = [m * rng.dirichlet(np.ones(3), size=len(m)) for m in legal]
    rows = [r / r.sum(-1, keepdims=True) for r in rows]
    tables = [np.broadcast_to(r, (game.horizon, *r.shape)) for r in rows]
    pi = P.observation_policy(game, tables)
    conv = os_expl.nash_conv(os_game, _tabular(os_game, names, rows))
    np.testing.assert_allclose(E.nash_conv(game, pi), conv, atol=1e-9)


def test_leduc_counterfactual_omd_plays_no_illegal_move(leduc):
    import marlmeta as M
    import marlmeta.solvers as S

    _, game, _ = leduc
    masks = _legal_masks(game)
    start = S.CounterfactualOMD(1.0).default_init(game, 10)
    for t, m in zip(start, masks, strict=True):
        assert np.all(np.asarray(t)[~m] == 0.0)
    sol = eqx.filter_jit(M.solve)(S.CounterfactualOMD(100.0), game, 10)  # not eager
    out = sol.policy
    for t, m in zip(out.tables, masks, strict=True):
        assert np.all(np.asarray(t)[~m] == 0.0)  # exactly 0
        np.testing.assert_allclose(np.asarray(t).sum(-1), 1.0, atol=1e-12)
    uniform = float(E.nash_conv(game, P.observation_uniform(game)))
    assert float(E.nash_conv(game, out)) < 0.5 * uniform


@pytest.mark.parametrize(
    "name",
    [
        # The smallest instances with each feature: two-player poker, a bidding
        # game with illegal actions (one two-sided die each), and a
        # simultaneous-move game made turn-based. Leduc and full Liar's Dice are
        # compared against OpenSpiel in benchmarks/interop.py.
        "kuhn_poker",
        "liars_dice(dice_sides=2)",
        "goofspiel(num_cards=3,imp_info=True,points_order=descending)",
    ],
)
def test_turn_based_nash_conv_matches_openspiel(name):
    from open_spiel.python.algorithms import cfr

    os_game = pyspiel.load_game(name)
    if os_game.get_type().dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        os_game = pyspiel.convert_to_turn_based(os_game)
    conv = I.from_openspiel_turns(os_game)
    game = conv.game
    legal = np.asarray(game.infoset_legal())
    assert name == "kuhn_poker" or not legal.all()  # masks are exercised
    rng = np.random.default_rng(1)
    rows = legal * rng.dirichlet(np.ones(game.num_actions), size=game.num_infosets)
    solver = cfr.CFRSolver(os_game)
    for _ in range(2):
        solver.evaluate_and_update_policy()
    average = solver.average_policy()
    tables = {
        "uniform": np.asarray(game.uniform()),
        "dirichlet": rows / rows.sum(-1, keepdims=True),
        "cfr": conv.policy_from_openspiel(average),
    }
    want = []
    for table in tables.values():
        theirs = conv.policy_to_openspiel(table, os_game)
        # The round trip through OpenSpiel's table is the identity.
        np.testing.assert_array_equal(conv.policy_from_openspiel(theirs), table)
        want.append(os_expl.nash_conv(os_game, theirs))
    # All policies in one batched, compiled call (op by op, the vmapped
    # backward induction compiled ~250 small programs per game).
    batched = eqx.filter_jit(jax.vmap(type(game).nash_conv, in_axes=(None, 0)))
    ours = batched(game, jnp.asarray(np.stack(list(tables.values()))))
    np.testing.assert_allclose(ours, want, atol=1e-9, err_msg=str(list(tables)))
    # OpenSpiel's own average policy object gives the same number.
    np.testing.assert_allclose(ours[2], os_expl.nash_conv(os_game, average), atol=1e-9)


def test_turn_based_conversion_refuses_bad_input():
    with pytest.raises(ValueError, match="simultaneous moves"):
        I.from_openspiel_turns("goofspiel(num_cards=3)")
    with pytest.raises(ValueError, match="more than max_nodes=20 decision nodes"):
        I.from_openspiel_turns("leduc_poker", max_nodes=20)
    kuhn = I.from_openspiel_turns("kuhn_poker")
    leduc = pyspiel.load_game("leduc_poker")
    with pytest.raises(ValueError, match="which the converted game does not"):
        kuhn.policy_from_openspiel(os_policy.TabularPolicy(leduc))
    with pytest.raises(ValueError, match="which the converted game does not"):
        kuhn.policy_to_openspiel(np.asarray(kuhn.game.uniform()), leduc)


def test_config_takes_an_openspiel_game(tmp_path):
    import yaml

    from marlmeta.experiments import load_config

    path = tmp_path / "kuhn.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "kuhn",
                "experiment": "zero_sum_meta",
                "game": {"openspiel": "kuhn_poker", "num_games": 2},
            }
        )
    )
    base = load_config(path).base_game(jnp.float64)
    game, _ = I.from_openspiel_tree("kuhn_poker")
    assert base.num_observations == game.num_observations == (13, 13)
    np.testing.assert_array_equal(base.rewards, game.rewards)


def test_interop_from_openspiel_representations():
    from open_spiel.python.algorithms import cfr

    from marlmeta import interop

    # Each metric compiled once per game (cheaper than op by op).
    nash_conv, exploitability, gains = map(
        eqx.filter_jit, (E.nash_conv, E.exploitability, E.gains)
    )

    # Turn-based (the default for a sequential game), metrics through evaluation.
    conv = interop.from_openspiel("kuhn_poker")
    assert isinstance(conv.game, G.TurnBasedGame)
    os_game = conv.source
    solver = cfr.CFRSolver(os_game)
    for _ in range(3):
        solver.evaluate_and_update_policy()
    average = solver.average_policy()
    table = conv.policy_from_openspiel(average)
    want = os_expl.nash_conv(os_game, average)
    np.testing.assert_allclose(nash_conv(conv.game, table), want, atol=1e-9)
    np.testing.assert_allclose(exploitability(conv.game, table), want / 2, atol=1e-9)
    np.testing.assert_allclose(np.sum(gains(conv.game, table)), want, atol=1e-9, rtol=0)
    np.testing.assert_array_equal(
        conv.policy_to_openspiel(table).action_probability_array,
        average.action_probability_array,
    )
    # The observation tree: same number, policies both ways.
    tree = interop.from_openspiel(os_game, interop.ObservationTree())
    pi = tree.policy_from_openspiel(average)
    np.testing.assert_allclose(nash_conv(tree.game, pi), want, atol=1e-9)
    np.testing.assert_allclose(
        tree.policy_to_openspiel(pi).action_probability_array,
        average.action_probability_array,
        atol=1e-15,
    )
    # A simultaneous-move game goes to the observation tree by default.
    goof = interop.from_openspiel("goofspiel(num_cards=3,imp_info=True)")
    assert isinstance(goof, interop.OpenSpielTree)
    tab = os_policy.TabularPolicy(goof.source)  # uniform over legal actions
    np.testing.assert_allclose(
        nash_conv(goof.game, goof.policy_from_openspiel(tab)),
        os_expl.nash_conv(goof.source, tab),
        atol=1e-9,
    )
    # Normal form.
    rps = interop.from_openspiel("matrix_rps")
    assert isinstance(rps, interop.OpenSpielNormalForm)
    pol = os_policy.TabularPolicy(rps.source)
    pol.action_probability_array[:] = [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]
    tables = rps.policy_from_openspiel(pol)
    np.testing.assert_allclose(
        nash_conv(rps.game, tables), os_expl.nash_conv(rps.source, pol), atol=1e-12
    )
    np.testing.assert_array_equal(
        rps.policy_to_openspiel(tables).action_probability_array,
        pol.action_probability_array,
    )
    with pytest.raises(ValueError, match="which the converted game does not"):
        conv.policy_from_openspiel(
            os_policy.TabularPolicy(pyspiel.load_game("leduc_poker"))
        )


def test_leduc_tree_policies_both_ways(leduc):
    # Each player also observes the other player's turns (information states
    # where it does not move, which an OpenSpiel TabularPolicy has no row for):
    # reading a policy must skip those, and the round trip is the identity.
    os_game = leduc[0]
    tree = I.from_openspiel(os_game, I.ObservationTree())
    policy = os_policy.TabularPolicy(os_game)
    rng = np.random.default_rng(7)
    legal = policy.legal_actions_mask.astype(bool)
    probs = rng.dirichlet(np.ones(policy.action_probability_array.shape[1]), len(legal))
    probs = np.where(legal, probs, 0.0)
    policy.action_probability_array[:] = probs / probs.sum(-1, keepdims=True)
    pi = tree.policy_from_openspiel(policy)
    np.testing.assert_allclose(
        E.nash_conv(tree.game, pi), os_expl.nash_conv(os_game, policy), atol=1e-9
    )
    np.testing.assert_allclose(
        tree.policy_to_openspiel(pi).action_probability_array,
        policy.action_probability_array,
        atol=1e-15,
    )


def _openspiel_curve(solver, os_game, steps):
    out = []
    for _ in range(steps):
        solver.evaluate_and_update_policy()
        out.append(os_expl.nash_conv(os_game, solver.average_policy()))
    return np.asarray(out)


def test_cfr_family_iterates_are_openspiels(leduc):
    """CFRPlus is OpenSpiel's CFRPlusSolver and DiscountedCFR its DCFRSolver
    (the same NashConv after every iteration) on Kuhn poker, and CFRPlus on
    Leduc poker, where it plays no illegal move."""
    from open_spiel.python.algorithms import cfr, discounted_cfr

    import marlmeta as M
    import marlmeta.solvers as S

    def curve(solver, game, steps):
        metric = lambda g, p: E.nash_conv(g, p)  # noqa: E731
        checkpoints = tuple(range(1, steps + 1))
        run = eqx.filter_jit(  # one compiled program, not an eager solve
            lambda s, g: M.solve(s, g, steps, checkpoints=checkpoints, metric=metric)
        )
        sol = run(solver, game)
        return sol.policy, np.asarray(sol.trace)

    kuhn = pyspiel.load_game("kuhn_poker")
    game, _ = I.from_openspiel_tree(kuhn)
    for ours, theirs in (
        (S.CFRPlus(), cfr.CFRPlusSolver(kuhn)),
        (S.DiscountedCFR(), discounted_cfr.DCFRSolver(kuhn)),
    ):
        _, got = curve(ours, game, 5)
        np.testing.assert_allclose(got, _openspiel_curve(theirs, kuhn, 5), atol=1e-12)
    os_game, game, _ = leduc
    policy, got = curve(S.CFRPlus(), game, 3)
    want = _openspiel_curve(cfr.CFRPlusSolver(os_game), os_game, 3)
    np.testing.assert_allclose(got, want, atol=1e-12)
    for t, m in zip(policy.tables, _legal_masks(game), strict=True):
        assert np.all(np.asarray(t)[~m] == 0.0)
