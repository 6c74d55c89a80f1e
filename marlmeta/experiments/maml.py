"""MAML on a family of perturbed discounted potential games.

Mao, Qiu, Wang et al., "Multi-Agent Meta-Reinforcement Learning: Sharper
Convergence Rates with Task Similarity" (NeurIPS 2023), section 4.2. One chunk:
meta-train on the training pool (the outer loop of :func:`marlmeta.meta.maml`),
then evaluate on the held-out games the NE-gap and the potential after ``t``
inner steps of eq. (44), for every ``t`` in ``eval_steps``, from three
initialisations: MAML's, a random one (Gaussian logits, standard deviation 1,
the same logits :func:`marlmeta.meta.maml` tracks on the training batches) and
the uniform policy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float

import marlmeta as M
from marlmeta._solve import iterate_solver
from marlmeta.experiments import _plots
from marlmeta.experiments._loader import ConfigError, check_dtype, check_sizes, setting
from marlmeta.experiments._protocol import Experiment, Plan
from marlmeta.experiments.registry import OPTIMISERS


@dataclasses.dataclass(frozen=True)
class MAMLGameConfig:
    """A family of perturbed discounted games around a random base game.

    ``kind`` is ``identical_interest`` (the common reward gets the noise) or
    ``potential`` (``r_i = phi + u_i``; the noise goes to ``phi``, hence to
    every player alike). The first ``train_games`` games are the training
    pool, the next ``test_games`` are held out.
    """

    kind: str = "identical_interest"
    num_actions: tuple[int, ...] = (3, 3)
    num_states: int = 3
    discount: float = 0.8
    noise_std: float = 0.05
    train_games: int = 32
    test_games: int = 32
    base_seed: int = 0


@dataclasses.dataclass(frozen=True)
class MAMLSettings:
    """MAML's loops: ``T`` inner steps of eq. (44), an optax outer loop."""

    inner_steps: int = 5
    inner_step_size: float = 0.5
    meta_steps: int = 200
    optimiser: str = "adam"
    learning_rate: float = 0.1
    batch_size: int | None = 8
    first_order: bool = False


@dataclasses.dataclass(frozen=True)
class MAMLConfig(Experiment, experiment="maml_mpg"):
    """MAML on a family of discounted potential games (Mao et al. section 4.2)."""

    game_source_refusal = (
        "MAML differentiates the potential of a family of discounted potential "
        "games; game files and OpenSpiel conversions are finite-horizon games "
        "without a potential"
    )

    name: str
    experiment: str
    game: MAMLGameConfig = MAMLGameConfig()
    maml: MAMLSettings = setting(None, MAMLSettings(), key="meta")
    eval_steps: tuple[int, ...] = setting(
        "output",
        (0, 1, 2, 5, 10, 20),
        doc="the inner-step counts at which the held-out games are judged",
    )
    seed: int = setting("run", 0)
    dtype: str = setting("run", "float64")
    description: str = ""

    def check(self, path: str) -> None:
        g, m = self.game, self.maml
        if g.kind not in ("identical_interest", "potential"):
            raise ConfigError(
                f"{path}: key 'game.kind' is {g.kind!r}; "
                "expected identical_interest or potential"
            )
        sizes = {
            "game.num_states": g.num_states,
            "game.train_games": g.train_games,
            "game.test_games": g.test_games,
            "meta.meta_steps": m.meta_steps,
        }
        sizes.update({f"game.num_actions[{i}]": a for i, a in enumerate(g.num_actions)})
        check_sizes(path, sizes)
        if not 0.0 <= g.discount < 1.0:
            raise ConfigError(
                f"{path}: key 'game.discount' is {g.discount}; expected in [0, 1)"
            )
        if m.inner_steps < 0:
            raise ConfigError(
                f"{path}: key 'meta.inner_steps' is {m.inner_steps}; expected >= 0"
            )
        if m.optimiser not in OPTIMISERS:
            raise ConfigError(
                f"{path}: key 'meta.optimiser' is {m.optimiser!r}; "
                f"expected one of: {', '.join(OPTIMISERS)}"
            )
        if m.batch_size is not None and not 1 <= m.batch_size <= g.train_games:
            raise ConfigError(
                f"{path}: key 'meta.batch_size' is {m.batch_size}; "
                f"expected in [1, game.train_games = {g.train_games}]"
            )
        if any(t < 0 for t in self.eval_steps):
            raise ConfigError(f"{path}: key 'output.eval_steps' has a negative entry")
        check_dtype(path, "run.dtype", self.dtype)

    def plan(self) -> Plan:
        return Plan(
            1,
            lambda i: _compute(self),
            lambda parts: _aggregate(self, *parts),
            figure,
            self.dtype == "float64",
        )


class ByInit(eqx.Module):
    """One entry per initialisation of the inner loop."""

    maml: Any
    random: Any
    uniform: Any


_INITS = tuple(f.name for f in dataclasses.fields(ByInit))


class Evaluation(eqx.Module):
    """On the held-out games, after every ``t`` of ``eval_steps``: ``(E, G)``."""

    ne_gap: Float[Array, "E G"]
    potential: Float[Array, "E G"]


class MAMLChunk(eqx.Module):
    """The one chunk.

    Attributes:
        objective: the meta-objective at every meta-iteration, ``(M,)``.
        train_ne_gap: the mean NE-gap after ``T`` inner steps on each
            meta-iteration's batch, ``(M,)`` per initialisation.
        test: the held-out evaluation per initialisation.
        finite: whether every number is finite.
    """

    objective: Float[Array, " M"]
    train_ne_gap: ByInit
    test: ByInit
    finite: Bool[Array, ""]


def family(config: MAMLConfig):
    """``(train, test)`` batches of the config's perturbed potential games."""
    g = config.game
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    make = (
        M.games.random_identical_interest
        if g.kind == "identical_interest"
        else M.games.random_potential
    )
    base = eqx.filter_jit(make)(
        jr.key(g.base_seed),
        1,
        g.num_actions,
        g.num_states,
        discount=g.discount,
        dtype=dtype,
    )
    base = jax.tree.map(lambda x: x[0], base)
    size = g.train_games + g.test_games
    games = M.games.perturb_rewards(
        jr.key(g.base_seed + 1), base, size, g.noise_std, coupling="identical"
    )
    split = lambda a, b: jax.tree.map(lambda x: x[a:b], games)  # noqa: E731
    return split(0, g.train_games), split(g.train_games, size)


def _metric(game, policy):
    """NE-gap and potential of one inner-loop iterate."""
    return M.evaluation.ne_gap(game, policy), M.evaluation.potential(game, policy)


@eqx.filter_jit
def _evaluate(games, theta, steps: tuple[int, ...], alpha):
    """NE-gap and potential on each of ``games`` after every ``t`` of
    ``steps`` (distinct, increasing) inner steps from ``theta``, ``(E, G)``
    each: one inner loop up to the last ``t`` observed at every ``t``, and one
    compiled program for every schedule (the segment lengths are traced;
    module level, so every run of the same shapes reuses it)."""
    solver = M.solvers.GradientPlay(alpha)

    def one(game):
        _, (trace, _) = iterate_solver(
            solver, game, theta, steps[-1], steps, _metric, M.ForwardOnly()
        )
        return trace

    gap, phi = jax.vmap(one)(games)
    return gap.T, phi.T


@eqx.filter_jit
def _train(train, theta, key, alpha, m: MAMLSettings):
    """MAML on the training games: one compiled program per settings and
    shapes (module level, so a rerun of the same config reuses it)."""
    return M.meta.maml(
        train,
        theta,
        OPTIMISERS[m.optimiser](m.learning_rate),
        m.meta_steps,
        m.inner_steps,
        alpha,
        key=key,
        batch_size=m.batch_size,
        first_order=m.first_order,
    )


def _compute(config: MAMLConfig) -> MAMLChunk:
    m = config.maml
    train, test = family(config)
    dtype = train.rewards.dtype
    zero = tuple(
        jnp.zeros((config.game.num_states, a), dtype) for a in config.game.num_actions
    )
    key = jr.split(jr.key(config.seed))[0]  # as before: training reproduces
    alpha = jnp.asarray(m.inner_step_size, dtype)
    run = _train(train, zero, key, alpha, m)

    steps = tuple(sorted(set(config.eval_steps)))
    rows = np.asarray([steps.index(t) for t in config.eval_steps])

    def held_out(theta):
        gap, phi = _evaluate(test, theta, steps, alpha)
        return Evaluation(ne_gap=gap[rows], potential=phi[rows])

    train_gap = ByInit(run.ne_gap, run.ne_gap_random, run.ne_gap_uniform)
    tests = ByInit(held_out(run.theta), held_out(run.random_init), held_out(zero))
    numbers = jax.tree.leaves((run.objective, train_gap, tests))
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in numbers]))
    return MAMLChunk(run.objective, train_gap, tests, finite)


def _aggregate(config: MAMLConfig, raw: MAMLChunk) -> dict:
    m = config.maml
    results = {
        "experiment": config.experiment,
        "name": config.name,
        "metric_description": (
            "objective = mean over the meta-batch of F_T(theta^k) = "
            "Phi(theta^(T)) after T inner steps (eq. 44) from the "
            "meta-initialisation theta^k; ne_gap = max_i (best-response value - "
            "value), exact; test_* on held-out games after t inner steps; the "
            "random initialisation is the same logits on training and held-out "
            "games"
        ),
        "inner_steps": m.inner_steps,
        "meta_iterations": list(range(m.meta_steps)),
        "objective": raw.objective.tolist(),
        "train_ne_gap": {
            name: getattr(raw.train_ne_gap, name).tolist() for name in _INITS
        },
        "eval_steps": list(config.eval_steps),
        "test": {},
        "finite": bool(raw.finite),
    }
    for name in _INITS:
        ev: Evaluation = getattr(raw.test, name)
        results["test"][name] = {
            "ne_gap_mean": ev.ne_gap.mean(1).tolist(),
            "ne_gap_std": ev.ne_gap.std(1).tolist(),
            "potential_mean": ev.potential.mean(1).tolist(),
        }
    if m.inner_steps in config.eval_steps:
        j = config.eval_steps.index(m.inner_steps)
        results["test_ne_gap_at_T"] = {
            name: float(np.mean(getattr(raw.test, name).ne_gap[j])) for name in _INITS
        }
    results["bound"] = _theorem4(config, raw)
    return results


def _theorem4(config: MAMLConfig, raw: MAMLChunk) -> dict:
    """Mao et al. Theorem 4 on the config's constants (recorded, not drawn).

    The theorem bounds ``min_k ||grad F_T(theta^k)||^2`` of full-gradient
    ascent with the outer step ``1 / L_F``; the run's gain is the change of
    the (minibatch) objective. ``applies`` is false for an optax optimiser
    other than plain SGD at that step, or for minibatches.
    """
    m = config.maml
    n = len(config.game.num_actions)
    gain = float(raw.objective[-1] - raw.objective[0])
    bound = M.theory.mao_theorem4(
        n, config.game.discount, m.inner_step_size, m.inner_steps,
        m.meta_steps, m.learning_rate, max(gain, 0.0),
    )  # fmt: skip
    full_gradient = m.optimiser == "sgd" and m.batch_size is None
    lf = M.theory.maml_smoothness(
        n, config.game.discount, m.inner_step_size, m.inner_steps
    )
    return {
        "theorem": "Mao et al. Theorem 4 (marlmeta.theory.mao_theorem4)",
        "quantity": "min over meta-iterations of ||grad F_T||^2",
        "smoothness_L_F": lf,
        "bound_last": float(bound.value),
        "printed_last": float(bound.printed),
        "applies": bool(bound.applies) and full_gradient,
        "note": (
            "not drawn: the theorem's outer step is 1 / L_F with full gradients; "
            "L_F grows like 4^T, so the bound is astronomically large (vacuous) "
            "for the inner horizons used here"
        ),
    }


def figure(results: dict) -> bytes:
    """(a) MAML's meta-objective, (b) NE-gap after T inner steps on the training
    batches, (c) held-out NE-gap against inner steps, by initialisation."""
    plt = _plots.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    k = results["meta_iterations"]
    axes[0].plot(k, results["objective"], color="tab:red")
    axes[0].set(
        xlabel="meta-iteration",
        ylabel="F_T = Phi after T inner steps",
        title="(a) meta-objective (training batches)",
    )
    colors = {"maml": "tab:red", "random": "tab:gray", "uniform": "tab:blue"}
    for name, color in colors.items():
        axes[1].plot(k, results["train_ne_gap"][name], color=color, label=name)
        test = results["test"][name]
        _plots.band(
            axes[2],
            results["eval_steps"],
            test["ne_gap_mean"],
            test["ne_gap_std"],
            f"from {name} init",
            color,
            "the held-out games",
        )
    axes[1].set(
        xlabel="meta-iteration",
        ylabel="NE-gap",
        yscale="log",
        title=f"(b) NE-gap after T = {results['inner_steps']} inner steps",
    )
    axes[2].set(
        xlabel="inner steps t",
        ylabel="NE-gap (held-out games)",
        yscale="log",
        title="(c) held-out games",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    axes[2].legend(fontsize=8)
    return _plots.png(
        fig, f"MAML vs random and uniform initialisations ({results['name']})"
    )
