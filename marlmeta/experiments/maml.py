"""MAML on a family of perturbed discounted potential games (seed 000 section 4.2).

One chunk: meta-train on the training pool (the outer loop of
:func:`marlmeta.meta.maml`), then evaluate on the held-out games the NE-gap and
the potential after ``t`` inner steps of eq. (44), for every ``t`` in
``eval_steps``, from three initialisations: MAML's, a random one (Gaussian
logits, standard deviation 1) and the uniform policy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import marlmeta as M
from marlmeta.experiments.config_mpg import MAMLConfig
from marlmeta.experiments.registry import OPTIMISERS

_INITS = ("maml", "random", "uniform")


def family(config: MAMLConfig):
    """``(train, test)`` batches of the config's perturbed potential games."""
    g = config.game
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    make = (
        M.games.random_identical_interest
        if g.kind == "identical_interest"
        else M.games.random_potential
    )
    base = make(
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


def _evaluate(games, theta, steps, alpha):
    """Mean NE-gap and potential over ``games`` after ``steps`` inner steps."""

    def one(game):
        final, _ = M.meta.inner_loop(game, theta, steps, alpha)
        pol = M.policies.softmax(final)
        return M.evaluation.ne_gap(game, pol), M.evaluation.potential(game, pol)

    gap, phi = jax.vmap(one)(games)
    return gap, phi


def maml_plan(config: MAMLConfig):
    from marlmeta.experiments.plots import plot_maml
    from marlmeta.experiments.runner import Plan

    m = config.maml

    def compute(i):
        del i
        train, test = family(config)
        dtype = train.rewards.dtype
        zero = tuple(
            jnp.zeros((config.game.num_states, a), dtype)
            for a in config.game.num_actions
        )
        k_run, k_rand = jr.split(jr.key(config.seed))
        alpha = jnp.asarray(m.inner_step_size, dtype)
        run = jax.jit(
            lambda tr, th, key: M.meta.maml(
                tr,
                th,
                OPTIMISERS[m.optimiser](m.learning_rate),
                m.meta_steps,
                m.inner_steps,
                alpha,
                key=key,
                batch_size=m.batch_size,
                first_order=m.first_order,
            )
        )(train, zero, k_run)
        keys = jr.split(k_rand, len(zero))
        rand = tuple(
            jr.normal(k, z.shape, dtype) for k, z in zip(keys, zero, strict=True)
        )
        out = {
            "objective": run.objective,
            "train_ne_gap": run.ne_gap,
            "train_ne_gap_random": run.ne_gap_random,
            "train_ne_gap_uniform": run.ne_gap_uniform,
        }
        evaluate = jax.jit(_evaluate, static_argnums=2)
        for name, theta in zip(_INITS, (run.theta, rand, zero), strict=True):
            rows = [evaluate(test, theta, t, alpha) for t in config.eval_steps]
            out[f"test_ne_gap_{name}"] = jnp.stack([r[0] for r in rows])  # (E, G)
            out[f"test_potential_{name}"] = jnp.stack([r[1] for r in rows])
        out["finite"] = jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(out)])
        )
        return out

    def aggregate(parts):
        (raw,) = parts
        results = {
            "experiment": config.experiment,
            "name": config.name,
            "metric_description": (
                "objective = mean over the meta-batch of F_T(theta^k) = "
                "Phi(theta^(T)) after T inner steps (eq. 44) from the "
                "meta-initialisation theta^k; ne_gap = max_i (best-response value - "
                "value), exact; test_* on held-out games after t inner steps"
            ),
            "inner_steps": m.inner_steps,
            "meta_iterations": list(range(m.meta_steps)),
            "objective": raw["objective"].tolist(),
            "train_ne_gap": {
                "maml": raw["train_ne_gap"].tolist(),
                "random": raw["train_ne_gap_random"].tolist(),
                "uniform": raw["train_ne_gap_uniform"].tolist(),
            },
            "eval_steps": list(config.eval_steps),
            "test": {},
            "finite": bool(raw["finite"]),
        }
        for name in _INITS:
            gap, phi = raw[f"test_ne_gap_{name}"], raw[f"test_potential_{name}"]
            results["test"][name] = {
                "ne_gap_mean": gap.mean(1).tolist(),
                "ne_gap_std": gap.std(1).tolist(),
                "potential_mean": phi.mean(1).tolist(),
            }
        if m.inner_steps in config.eval_steps:
            j = config.eval_steps.index(m.inner_steps)
            results["test_ne_gap_at_T"] = {
                name: float(np.mean(raw[f"test_ne_gap_{name}"][j])) for name in _INITS
            }
        return results

    return Plan(1, compute, aggregate, plot_maml, config.dtype == "float64")
