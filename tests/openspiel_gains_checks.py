"""Per-player gains and NashConv of converted OpenSpiel games against
OpenSpiel's ``exploitability.nash_conv`` (its ``player_improvements``), for
uniform, Dirichlet and CFR-average policies, and Oshi-Zumo; the observation
tree's refusal of a game too large.

Not collected by the suite directly: ``tests/test_interop_child_checks.py`` runs
this file in a child process (OpenSpiel's C++ extension stays out of the test
workers that compile XLA programs).
"""

import equinox as eqx
import numpy as np
import pytest

import marlmeta.evaluation as E
import marlmeta.interop as I
import marlmeta.policies as P

pyspiel = pytest.importorskip(
    "pyspiel", reason="open_spiel is not installed (pip install 'marlmeta[openspiel]')"
)
from open_spiel.python import policy as os_policy  # noqa: E402
from open_spiel.python.algorithms import (  # noqa: E402
    cfr,
    exploitability as os_expl,
)

# Compiled once per game (cheaper than op by op); NashConv is their sum (its
# own function is checked against OpenSpiel in openspiel_checks.py).
GAINS = eqx.filter_jit(E.gains)


def _theirs(os_game, policy):
    out = os_expl.nash_conv(os_game, policy, return_only_nash_conv=False)
    return np.asarray(out.player_improvements), out.nash_conv


def _dirichlet(os_game, seed: int):
    """OpenSpiel's tabular policy with a Dirichlet row per information state on
    its legal actions."""
    pol = os_policy.TabularPolicy(os_game)
    legal = pol.legal_actions_mask.astype(bool)
    rows = np.random.default_rng(seed).dirichlet(np.ones(legal.shape[1]), len(legal))
    rows = np.where(legal, rows, 0.0)
    pol.action_probability_array[:] = rows / rows.sum(-1, keepdims=True)
    return pol


def _policies(os_game):
    """Uniform, Dirichlet and (sequential games) OpenSpiel's CFR average policy
    after two iterations, as tabular policies."""
    out = {
        "uniform": os_policy.TabularPolicy(os_game),
        "dirichlet": _dirichlet(os_game, 3),
    }
    if os_game.get_type().dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL:
        solver = cfr.CFRSolver(os_game)
        for _ in range(2):
            solver.evaluate_and_update_policy()
        out["cfr"] = solver.average_policy()
    return out


@pytest.mark.parametrize(
    "name",
    [
        "kuhn_poker",  # a TurnBasedGame
        "leduc_poker(suit_isomorphism=True)",  # a TurnBasedGame
        "goofspiel(num_cards=3,imp_info=True,points_order=descending)",  # a tree
        "matrix_rps",  # a normal form
    ],
)
def test_gains_per_player_are_openspiels(name):
    os_game = pyspiel.load_game(name)
    conv = I.from_openspiel(os_game)
    for label, policy in _policies(os_game).items():
        ours = conv.policy_from_openspiel(policy)
        improvements, conv_theirs = _theirs(os_game, policy)
        gains = np.asarray(GAINS(conv.game, ours))
        np.testing.assert_allclose(gains, improvements, atol=1e-9, err_msg=label)
        np.testing.assert_allclose(gains.sum(), conv_theirs, atol=1e-9, err_msg=label)


class _TablePolicy(os_policy.Policy):
    """An OpenSpiel policy reading a converted tree's observation tables: the
    row of player ``i``'s information state at the step it is met (both
    players of Oshi-Zumo share their information state strings, which an
    OpenSpiel ``TabularPolicy`` cannot tell apart)."""

    def __init__(self, os_game, tree, tables):
        super().__init__(os_game, list(range(os_game.num_players())))
        self.index = [{key: o for o, key in enumerate(n)} for n in tree.names]
        self.steps = tree._decision_steps()
        self.tables = [np.asarray(t) for t in tables]

    def action_probabilities(self, state, player_id=None):
        i = state.current_player() if player_id is None else player_id
        key = state.information_state_string(i)
        row = self.tables[i][self.steps[(i, key)], self.index[i][key]]
        return {a: float(row[a]) for a in state.legal_actions(i)}


def test_oshi_zumo_gains_are_openspiels():
    os_game = pyspiel.load_game("oshi_zumo(coins=3,size=1,horizon=2)")
    tree = I.from_openspiel(os_game)
    game = tree.game
    masks = game.policy_masks()
    rng = np.random.default_rng(11)
    for label, tables in (
        ("uniform", P.observation_uniform(game).tables),
        (
            "dirichlet",
            [
                np.asarray(m) * rng.dirichlet(np.ones(m.shape[-1]), m.shape[:-1])
                for m in masks
            ],
        ),
    ):
        tables = [t / t.sum(-1, keepdims=True) for t in map(np.asarray, tables)]
        ours = P.observation_policy(game, tables)
        improvements, conv_theirs = _theirs(
            os_game, _TablePolicy(os_game, tree, tables)
        )
        gains = np.asarray(GAINS(game, ours))
        np.testing.assert_allclose(gains, improvements, atol=1e-9, err_msg=label)
        np.testing.assert_allclose(gains.sum(), conv_theirs, atol=1e-9, err_msg=label)
    # OpenSpiel's own TabularPolicy of this game has one row for both players'
    # information state '0, 1', with mass on an action illegal for player 1:
    # refused with a clear error, not renormalised.
    with pytest.raises(ValueError, match="illegal .*TabularPolicy keys rows"):
        tree.policy_from_openspiel(os_policy.TabularPolicy(os_game))


def test_observation_tree_refuses_a_game_too_large():
    with pytest.raises(ValueError, match=r"more than max_states=40 histories at step"):
        I.from_openspiel_tree("leduc_poker", max_states=40)
    with pytest.raises(ValueError, match=r"GiB of rewards.*TurnBased\(\)"):
        I.from_openspiel("leduc_poker", I.ObservationTree(max_states=40))
