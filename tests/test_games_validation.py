"""Malformed input to every game constructor is a ValueError naming the argument.

The table holds the categories of a bad-input probe of the public API (complex
numbers, strings where numbers belong, counts that are not positive integers,
empty sizes, discounts outside [0, 1), negative or non-finite spreads, kernel
rows off the simplex, sparse successors that are not integers or out of range,
state counts that disagree, non-finite rewards), per constructor, for the
validating constructors, the generators, the families and the Modules built
directly. Each case is checked against a regular expression that names the
argument and, where there is one, the index and the value.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import marlmeta.games as G
from marlmeta.aggregative import _families as AF

KEY = jax.random.key(0)
RNG = np.random.default_rng(0)
# N = 2, H = 3, S = 2, A = B = 2 (the shapes of tests/test_games.py).
R = RNG.uniform(size=(2, 3, 2, 2, 2))
P = RNG.dirichlet(np.ones(2), size=(2, 2, 2))  # (S, A, B, S): no step axis
INIT = np.array([0.5, 0.5])
ZS = G.zoo.mao2023_zero_sum(horizon=3)


def _with(x, idx, value):
    y = np.array(x, dtype=np.result_type(x, type(value)))
    y[idx] = value
    return y


def _sparse(nxt=None, prob=None, num_states=None):
    nxt = np.zeros((1, 2, 2, 2, 1), np.int64) if nxt is None else nxt
    prob = np.ones((1, 2, 2, 2, 1)) if prob is None else prob
    return G.SparseTransitions(nxt, prob, num_states)


def _dense_game(**kw):
    args = dict(
        reward_model=R[:, 0],
        transitions=G.DenseTransitions(P[None]),
        initial=INIT,
        potential_reward=None,
        discount=0.9,
        num_actions=(2, 2),
    )
    return G.DiscountedMarkovGame(**(args | kw))


def _finite_game(**kw):
    args = dict(
        reward_model=R,
        transitions=G.DenseTransitions(P[None]),
        initial=INIT,
        potential_reward=None,
        num_actions=(2, 2),
        horizon=3,
    )
    return G.FiniteHorizonGame(**(args | kw))


CASES = {
    # markov_game / zero_sum_game / discounted_game / matrix_game
    "complex rewards": (
        lambda: G.markov_game(R + 1j, P, INIT),
        r"rewards\[0, 0, 0, 0, 0\] is \(.*\+1j?\) \(complex",
    ),
    "string rewards": (
        lambda: G.markov_game(R.astype(str), P, INIT),
        r"rewards\[0, 0, 0, 0, 0\] is '0\.\d+' \(non-numeric",
    ),
    "nan rewards": (
        lambda: G.markov_game(_with(R, (1, 2, 0, 1, 0), np.nan), P, INIT),
        r"rewards\[1, 2, 0, 1, 0\] is nan",
    ),
    "inf rewards": (
        lambda: G.markov_game(_with(R, (0, 1, 1, 0, 1), -np.inf), P, INIT),
        r"rewards\[0, 1, 1, 0, 1\] is -inf",
    ),
    "horizon 0": (lambda: G.markov_game(R[:, :0], P, INIT), "rewards has horizon 0"),
    "no states": (
        lambda: G.markov_game(R[:, :, :0], P[:0, ..., :0], INIT[:0]),
        "rewards has states 0",
    ),
    "zero actions": (
        lambda: G.markov_game(R[..., :0], P[..., :0, :], INIT),
        "rewards has an empty action set for player 1",
    ),
    "rows sum to 2": (
        lambda: G.markov_game(R, 2 * P, INIT),
        r"transitions\[0, 0, 0\] sums to 2\.0; expected 1 \(tolerance 1e-06",
    ),
    "rows sum to 2 (float32)": (
        lambda: G.markov_game(R, (2 * P).astype(np.float32), INIT),
        r"transitions\[0, 0, 0\] sums to 2\.0; .*tolerance 1e-05 for float32",
    ),
    "negative probability": (
        lambda: G.markov_game(
            R, _with(_with(P, (1, 0, 1, 0), 1.5), (1, 0, 1, 1), -0.5), INIT
        ),
        r"transitions\[1, 0, 1, 1\] is -0\.5; probabilities must be >= 0",
    ),
    "complex transitions": (
        lambda: G.markov_game(R, P * (1 + 0j) + _with(0 * P, (0, 0, 0, 0), 1j), INIT),
        r"transitions\[0, 0, 0, 0\] is .*1j\) \(complex",
    ),
    "transitions state count": (
        lambda: G.markov_game(R, np.ones((2, 2, 2, 3)) / 3, INIT),
        r"transitions has shape \(1, 2, 2, 2, 3\); expected \(1, 2, 2, 2, 2\)",
    ),
    "initial state count": (
        lambda: G.markov_game(R, P, np.ones(3) / 3),
        r"initial has shape \(3,\); expected \(2,\)",
    ),
    "initial off the simplex": (
        lambda: G.markov_game(R, P, [0.5, 0.6]),
        r"initial\[\] sums to 1\.1",
    ),
    "initial nan": (lambda: G.markov_game(R, P, [np.nan, 1.0]), r"initial\[0\] is nan"),
    "complex initial": (
        lambda: G.markov_game(R, P, [0.5 + 1j, 0.5]),
        r"initial\[0\] is \(0\.5\+1j\)",
    ),
    "potential nan": (
        lambda: G.markov_game(
            R, P, INIT, potential_reward=_with(R[0], (0, 1, 1, 1), np.nan)
        ),
        r"potential_reward\[0, 1, 1, 1\] is nan",
    ),
    "potential shape": (
        lambda: G.markov_game(R, P, INIT, potential_reward=R[0, :2]),
        r"potential_reward has shape \(2, 2, 2, 2\)",
    ),
    "zero-sum complex": (
        lambda: G.zero_sum_game(R[0] * 1j, P, INIT),
        r"reward\[0, 0, 0, 0\] is .*j \(complex",
    ),
    "zero-sum nan": (
        lambda: G.zero_sum_game(_with(R[0], (2, 1, 0, 0), np.nan), P, INIT),
        r"reward\[0, 2, 1, 0, 0\] is nan",
    ),
    "discount string": (
        lambda: G.discounted_game(R[:, 0], P, INIT, "0.9"),
        "discount is '0.9'; expected a number, not a string",
    ),
    "discount 1": (
        lambda: G.discounted_game(R[:, 0], P, INIT, 1.0),
        r"discount is 1\.0; expected a finite number in \[0, 1\)",
    ),
    "discount negative": (
        lambda: G.discounted_game(R[:, 0], P, INIT, -0.1),
        r"discount is -0\.1",
    ),
    "discount nan": (
        lambda: G.discounted_game(R[:, 0], P, INIT, np.nan),
        r"discount is nan",
    ),
    "discount complex": (
        lambda: G.discounted_game(R[:, 0], P, INIT, 0.5j),
        r"discount is 0\.5j",
    ),
    "discount bool": (
        lambda: G.discounted_game(R[:, 0], P, INIT, True),
        r"discount is True",
    ),
    "discount array": (
        lambda: G.discounted_game(R[:, 0], P, INIT, [0.5, 0.5]),
        r"discount has shape \(2,\)",
    ),
    "matrix complex payoffs": (
        lambda: G.matrix_game(np.ones((2, 2, 2)) * (1 + 1j)),
        r"payoffs\[0, 0, 0\] is \(1\+1j\)",
    ),
    "matrix string payoffs": (
        lambda: G.matrix_game([[["1", "0"], ["0", "1"]], [["0", "1"], ["1", "0"]]]),
        r"payoffs\[0, 0, 0\] is '1'",
    ),
    "cooperative complex": (
        lambda: G.cooperative_game(R[0, 0] * 1j, P, INIT, 0.5),
        r"reward\[0, 0, 0\] is .*j",
    ),
    "cooperative discount": (
        lambda: G.cooperative_game(R[0, 0], P, INIT, 1.5),
        r"discount is 1\.5",
    ),
    # Modules built directly
    "direct discount 1.5": (
        lambda: _dense_game(discount=1.5),
        r"discount is 1\.5; expected \[0, 1\)",
    ),
    "direct discount string": (
        lambda: _dense_game(discount="0.9"),
        "discount is '0.9'",
    ),
    "direct dense rows sum to 2": (
        lambda: _dense_game(transitions=G.DenseTransitions(2 * P[None])),
        r"transitions\[0, 0, 0, 0\] sums to 2\.0",
    ),
    "direct nan rewards": (
        lambda: _dense_game(reward_model=_with(R[:, 0], (1, 1, 0, 1), np.nan)),
        r"rewards\[1, 1, 0, 1\] is nan",
    ),
    "direct initial count": (
        lambda: _dense_game(initial=np.ones(3) / 3),
        r"initial has shape \(3,\); expected \(2,\)",
    ),
    "direct horizon 0": (lambda: _finite_game(horizon=0), "horizon is 0"),
    "direct horizon mismatch": (
        lambda: _finite_game(horizon=4),
        r"rewards has shape \(2, 3, 2, 2, 2\); expected \(2, 4, 2, 2, 2\)",
    ),
    "direct num_actions": (
        lambda: _finite_game(num_actions=(2, 3)),
        r"rewards has shape \(2, 3, 2, 2, 2\); expected \(2, 3, 2, 2, 3\)",
    ),
    "direct zero action count": (
        lambda: _finite_game(num_actions=(2, 0)),
        r"num_actions\[1\] is 0",
    ),
    "direct kernel of another game": (
        lambda: _finite_game(
            transitions=G.DenseTransitions(np.ones((1, 3, 2, 2, 3)) / 3)
        ),
        r"transitions has shape \(1, 3, 2, 2, 3\)",
    ),
    "zero-sum model nan": (
        lambda: G.ZeroSumRewards(_with(R[0], (0, 0, 1, 1), np.inf)),
        r"rewards\[0, 0, 1, 1\] is inf",
    ),
    "identical model players": (
        lambda: G.IdenticalRewards(R[0], 0),
        "num_players is 0",
    ),
    "stationary model horizon": (
        lambda: G.StationaryRewards(R[:, 0], 2.5),
        "horizon is 2.5",
    ),
    "dense kernel complex": (
        lambda: G.DenseTransitions(P[None] + 0j),
        r"transitions\[0, 0, 0, 0, 0\] is .*\(complex",
    ),
    "sparse float successors": (
        lambda: _sparse(nxt=np.full((1, 2, 2, 2, 1), 1.5)),
        r"transitions\.next_state\[0, 0, 0, 0, 0\] is 1\.5 \(dtype float64\)",
    ),
    "sparse successor out of range": (
        lambda: _sparse(nxt=_with(np.zeros((1, 2, 2, 2, 1), int), (0, 1, 1, 0, 0), 7)),
        r"transitions\.next_state\[0, 1, 1, 0, 0\] is 7; expected a state in \[0, 2\)",
    ),
    "sparse negative successor": (
        lambda: _sparse(nxt=_with(np.zeros((1, 2, 2, 2, 1), int), (0, 0, 0, 1, 0), -1)),
        r"transitions\.next_state\[0, 0, 0, 1, 0\] is -1",
    ),
    "sparse state count": (
        lambda: G.markov_game(R, _sparse(num_states=3), INIT),
        "transitions has 3 states; expected 2",
    ),
    "sparse num_states 0": (lambda: _sparse(num_states=0), "num_states is 0"),
    "sparse rows sum to 2": (
        lambda: _sparse(prob=np.full((1, 2, 2, 2, 1), 2.0)),
        r"transitions\.prob\[0, 0, 0, 0\] sums to 2\.0",
    ),
    "factored not square": (
        lambda: G.FactoredTransitions((np.ones((1, 2, 2, 3)) / 3,)),
        r"transitions\.local\[0\] has shape \(1, 2, 2, 3\)",
    ),
    "factored rows": (
        lambda: G.FactoredTransitions((np.ones((1, 2, 2, 2)),)),
        r"transitions\.local\[0\]\[0, 0, 0\] sums to 2\.0",
    ),
    # generators
    "num_games 0": (lambda: G.random_general_sum(KEY, 0), "num_games is 0"),
    "num_games 2.7": (lambda: G.random_general_sum(KEY, 2.7), "num_games is 2.7"),
    "num_games string": (lambda: G.random_zero_sum(KEY, "3"), "num_games is '3'"),
    "num_games bool": (
        lambda: G.random_identical_interest(KEY, True),
        "num_games is True",
    ),
    "zero actions (generator)": (
        lambda: G.random_general_sum(KEY, 2, (2, 0)),
        r"num_actions\[1\] is 0",
    ),
    "no players": (lambda: G.random_potential(KEY, 2, ()), "num_actions is"),
    "zero states": (lambda: G.random_zero_sum(KEY, 2, (2, 2), 0), "num_states is 0"),
    "horizon 0 (generator)": (
        lambda: G.random_general_sum(KEY, 2, (2, 2), 2, 0),
        "horizon is 0",
    ),
    "generator discount string": (
        lambda: G.random_general_sum(KEY, 2, discount="0.9"),
        "discount is '0.9'",
    ),
    "generator discount 1": (
        lambda: G.random_zero_sum(KEY, 2, discount=1.0),
        r"discount is 1\.0",
    ),
    "generator integer dtype": (
        lambda: G.random_general_sum(KEY, 2, dtype=jnp.int32),
        "dtype is",
    ),
    "cooperative num_games": (
        lambda: G.random_cooperative(KEY, 0),
        "num_games is 0",
    ),
    "cooperative discount nan": (
        lambda: G.random_cooperative(KEY, 2, discount=float("nan")),
        "discount is nan",
    ),
    "sparse num_games": (
        lambda: G.random_sparse_zero_sum(KEY, 2.0),
        r"num_games is 2\.0",
    ),
    "sparse fan_out": (
        lambda: G.random_sparse_general_sum(KEY, 2, fan_out=0),
        "fan_out is 0",
    ),
    "zoo string table": (
        lambda: G.zoo.mao2023_zero_sum(table=np.full((2, 2, 2), "0.5")),
        r"table\[0, 0, 0\] is '0\.5'",
    ),
    "zoo stay": (lambda: G.zoo.mao2023_zero_sum(stay=1.5), r"stay is 1\.5"),
    "zoo horizon": (
        lambda: G.zoo.mao2023_identical_interest(horizon=0),
        "horizon is 0",
    ),
    "zoo complex matrix": (
        lambda: G.zoo.identical_interest_matrix([[1j, 0.0]]),
        r"reward\[0, 0\] is 1j",
    ),
    "lq num_players": (lambda: G.zoo.lq_tracking(num_players="2"), "num_players"),
    "lq family std": (
        lambda: G.lq_tracking_family(KEY, 2, -0.1),
        r"std is -0\.1",
    ),
    "poker stacks std": (
        lambda: G.zoo.perturbed_stacks(0, 3, 500.0, (500.0, 500.0), float("inf")),
        "std is inf",
    ),
    "poker stacks strings": (
        lambda: G.zoo.perturbed_stacks(0, 3, 500.0, ("500", "500")),
        "stacks",
    ),
    "poker num_games": (
        lambda: G.zoo.perturbed_stacks(0, 2.7, 500.0, (500.0, 500.0)),
        r"num_games is 2\.7",
    ),
    # families
    "perturb std negative": (
        lambda: G.perturb_rewards(KEY, ZS, 3, -0.1),
        r"std is -0\.1; expected a finite number in \[0, inf\)",
    ),
    "perturb std nan": (lambda: G.perturb_rewards(KEY, ZS, 3, np.nan), "std is nan"),
    "perturb std inf": (lambda: G.perturb_rewards(KEY, ZS, 3, np.inf), "std is inf"),
    "perturb std string": (lambda: G.perturb_rewards(KEY, ZS, 3, "0.1"), "std is"),
    "perturb num_games": (lambda: G.perturb_rewards(KEY, ZS, 0, 0.1), "num_games is 0"),
    "perturb coupling": (
        lambda: G.perturb_rewards(KEY, ZS, 2, 0.1, coupling="bogus"),
        "coupling is 'bogus'",
    ),
    "perturb transitions std nan": (
        lambda: G.perturb_transitions(KEY, ZS, 3, np.nan),
        "std is nan",
    ),
    "perturb transitions num_games": (
        lambda: G.perturb_transitions(KEY, ZS, 1.5, 0.1),
        r"num_games is 1\.5",
    ),
    # aggregative generators
    "aggregative num_games": (
        lambda: AF.random_aggregative(KEY, 0),
        "num_games is 0",
    ),
    "aggregative horizon": (
        lambda: AF.random_aggregative(KEY, horizon=0),
        "horizon is 0",
    ),
    "aggregative players": (
        lambda: AF.random_aggregative(KEY, num_players=2.5),
        r"num_players is 2\.5",
    ),
    "aggregative slope nan": (
        lambda: AF.random_aggregative(KEY, slope_scale=np.nan),
        "slope_scale is nan",
    ),
    "congestion complex": (
        lambda: AF.singleton_congestion([1.0, 1j], [0.5, 0.5], 3),
        r"theta\[1\] is 1j",
    ),
    "congestion players": (
        lambda: AF.singleton_congestion([1.0, 2.0], [0.5, 0.5], 0),
        "num_players is 0",
    ),
    "cournot levels": (lambda: AF.cournot(3, num_levels=0), "num_levels is 0"),
    "distancing sharpness": (
        lambda: AF.distancing(sharpness=np.inf),
        "sharpness is inf",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_input_is_a_value_error_naming_the_argument(case):
    make, pattern = CASES[case]
    with pytest.raises(ValueError, match=pattern):
        make()


def test_a_batch_where_one_game_is_expected():
    batch = G.random_zero_sum(KEY, 4, (2, 2), 2, 3)
    for family in (G.perturb_rewards, G.perturb_transitions):
        name = family.__name__
        with pytest.raises(
            ValueError, match=f"{name} takes one game; got a batch of 4"
        ):
            family(KEY, batch, 2, 0.1)
    with pytest.raises(ValueError, match="unstack takes a batch of games; got one"):
        G.unstack(ZS)
    obs = [np.zeros((3, 2), int)] * 2
    with pytest.raises(ValueError, match="observe takes one game; got a batch of 4"):
        G.observe(batch, obs)
