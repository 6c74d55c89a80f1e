"""The experiment runner: the impure shell around the pure library.

``run_experiment(config)`` writes ``runs/<name>/``:

- ``config.yaml``: the config as run (with its fingerprint);
- ``chunks/chunk_NNN.npz``: the raw numbers of each chunk of seeds, so that an
  interrupted sweep resumes from the chunks already written;
- ``results.json``: every plotted number, with the metric named;
- ``figure.png``: the figure.

Every file is written atomically (a temporary file in the same folder, then a
rename), so a killed run never leaves a half-written file behind.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import yaml
from tqdm import tqdm

from marlmeta.experiments.config import (
    CompareConfig,
    ConfigError,
    GeneralSumMetaConfig,
    PotentialMetaConfig,
    ZeroSumMetaConfig,
    to_dict,
)


def atomic_write(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def fingerprint(config) -> str:
    """A hash of everything in the config that changes the numbers."""
    data = to_dict(config)
    data.pop("name", None)
    data.pop("description", None)
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _save_npz(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


def _metric_of(config) -> str:
    if isinstance(config, ZeroSumMetaConfig):
        return "nash_conv"
    if isinstance(config, PotentialMetaConfig):
        return "mpg_ne_gap"
    return "cce_gap"


#: How each metric is read off a :class:`marlmeta.evaluation.Report` trace.
_READ = {
    "nash_conv": lambda r: r.nash_conv,
    "cce_gap": lambda r: r.cce_gap,
    "mpg_ne_gap": lambda r: 0.5 * r.nash_conv,
}


def _setup(config, dtype):
    """``(base game, reward-noise coupling, solver, meta-learner)`` of a config."""
    import marlmeta as M
    from marlmeta.games import zoo

    g, eta = config.game, jnp.asarray(config.solver.step_size, dtype)
    if isinstance(config, ZeroSumMetaConfig):
        base = zoo.seed000_zero_sum(g.rewards, g.horizon, g.stay, g.switch, dtype)
        return base, "zero_sum", M.solvers.ZeroSumOMD(eta), M.meta.sequential_meta
    if isinstance(config, PotentialMetaConfig):
        base = zoo.seed000_identical_interest(
            g.rewards, g.horizon, g.stay, g.switch, dtype
        )
        solver = M.solvers.ProjectedQDescent(eta)
        return base, "identical", solver, M.meta.warm_start
    games = M.games.random_general_sum(
        jr.key(g.base_seed), 1, g.num_actions, g.num_states, g.horizon, dtype=dtype
    )
    base = jax.tree.map(lambda x: x[0], games)
    return base, "independent", M.solvers.GeneralSumOMD(eta), M.meta.sequential_meta


def _chunk_fn(config):
    """The compiled function of one chunk of seeds (pure inside)."""
    import marlmeta as M

    dtype = jnp.float64 if config.run.dtype == "float64" else jnp.float32
    base, coupling, solver, meta = _setup(config, dtype)
    metric, g = _metric_of(config), config.game
    steps, cps = config.solver.num_steps, config.run.checkpoints
    options = {} if meta is M.meta.warm_start else {"alpha": config.meta.alpha}

    def one_seed(key):
        fam = M.games.perturb_rewards(
            key, base, g.num_games, g.noise_std, coupling=coupling
        )
        ind = M.meta.individual(solver, fam, steps, checkpoints=cps)
        met = meta(solver, fam, steps, checkpoints=cps, **options)
        out = {}
        for label, run in (("individual", ind), ("meta", met)):
            out[f"{label}_{metric}"] = _READ[metric](run.solutions.trace)  # (K, C)
            out[f"{label}_values"] = run.solutions.trace.values  # (K, C, N)
            out[f"{label}_similarity"] = run.similarity
            out[f"{label}_finite"] = jnp.all(run.solutions.finite)
        if meta is M.meta.warm_start:  # Delta_Phi belongs to the games
            out["individual_similarity"] = met.similarity
        if coupling == "zero_sum":
            out["stage_rewards"] = fam.rewards[:, 0, 0]  # (K, S, A, B)
        return out

    return jax.jit(jax.vmap(one_seed))


_METRICS = {
    "nash_conv": (
        "NashConv = V^{dagger,nu} - V^{mu,dagger} of the output policy "
        "(seed 000's NE-gap), exact"
    ),
    "cce_gap": (
        "CCE-gap = max_i (V_i^{dagger, sigma_-i} - V_i^sigma) of the stage-mixture "
        "Markov correlated output policy, exact"
    ),
    "mpg_ne_gap": (
        "seed 000 F.2 NE-gap = 1/2 (V^{dagger,nu} + V^{mu,dagger}) - V^{mu,nu} "
        "(half the sum of the two players' gains) of the last iterate, exact"
    ),
}

_SIMILARITY = {
    "sequential_meta": "Delta = sum_k KL(br^k || mean_k br^k) (seed 000 Theorem 2)",
    "warm_start": (
        "Delta_Phi = sum_k max_pi (Phi(pi; G^k) - Phi(pi; G^k+1)) (seed 000 eq. 8); "
        "a property of the games, the same for both learners"
    ),
}


def _ne_2x2(m: np.ndarray) -> tuple[float, float]:
    """Probability of action 0 for each player at an NE of a 2x2 zero-sum game."""
    lower = np.max(np.min(m, axis=1))
    upper = np.min(np.max(m, axis=0))
    if np.isclose(lower, upper):  # pure saddle point
        return float(np.argmax(np.min(m, axis=1)) == 0), float(
            np.argmin(np.max(m, axis=0)) == 0
        )
    (a, b), (c, d) = m
    den = a - b - c + d
    return float((d - c) / den), float((d - b) / den)


def _aggregate(config, raw: dict[str, np.ndarray]) -> dict[str, Any]:
    metric = _metric_of(config)
    meta = (
        "warm_start" if isinstance(config, PotentialMetaConfig) else "sequential_meta"
    )
    out: dict[str, Any] = {
        "experiment": config.experiment,
        "name": config.name,
        "metric": metric,
        "metric_description": _METRICS[metric]
        + "; averaged over the K games of a sequence, then mean and standard "
        "deviation over seeds",
        "value_description": "player 0's value of the output policy (value_*); "
        "every player's in values_mean",
        "checkpoints": list(config.run.checkpoints),
        "seeds": config.run.seeds,
        "num_games": config.game.num_games,
        "meta_update": meta,
    }
    finite = True
    for label in ("individual", "meta"):
        gap = raw[f"{label}_{metric}"].mean(axis=1)  # (seeds, C)
        vals = raw[f"{label}_values"].mean(axis=1)  # (seeds, C, N)
        finite &= bool(np.all(raw[f"{label}_finite"]))
        out[label] = {
            f"{metric}_mean": gap.mean(0).tolist(),
            f"{metric}_std": gap.std(0).tolist(),
            "value_mean": vals[..., 0].mean(0).tolist(),
            "value_std": vals[..., 0].std(0).tolist(),
            "values_mean": vals.mean(0).tolist(),
            "similarity_mean": float(raw[f"{label}_similarity"].mean()),
        }
    ratio = np.array(out["meta"][f"{metric}_mean"]) / np.maximum(
        np.array(out["individual"][f"{metric}_mean"]), 1e-300
    )
    out[f"meta_over_individual_{metric}"] = ratio.tolist()
    out["similarity"] = {
        "definition": _SIMILARITY[meta],
        "meta": out["meta"]["similarity_mean"],
        "individual": out["individual"]["similarity_mean"],
    }
    if "stage_rewards" in raw:
        stage = raw["stage_rewards"][0]  # first seed: (K, S, A, B)
        ne = np.array(
            [
                [_ne_2x2(stage[k, s]) for s in range(stage.shape[1])]
                for k in range(stage.shape[0])
            ]
        )
        out["ne_policies"] = {
            "description": "NE (mu_0*, nu_0*) of each perturbed stage game, first seed",
            "mu0": ne[..., 0].tolist(),
            "nu0": ne[..., 1].tolist(),
        }
    out["finite"] = finite
    return out


class Plan(NamedTuple):
    """How to run one experiment: ``units`` chunks, each computed (and saved)
    on its own so that a sweep resumes; then aggregation and the figure."""

    units: int
    compute: Callable[[int], dict]
    aggregate: Callable[[list[dict]], dict]
    figure: Callable[[dict], bytes]
    float64: bool


def _meta_plan(config) -> Plan:
    seeds, per = config.run.seeds, config.run.chunk_seeds
    keys = jr.split(jr.key(config.run.seed), seeds)
    fn = functools.cache(lambda: _chunk_fn(config))

    def compute(i):
        return fn()(keys[i * per : (i + 1) * per])

    def aggregate(parts):
        return _aggregate(
            config, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        )

    from marlmeta.experiments.plots import plot_meta

    return Plan(
        math.ceil(seeds / per),
        compute,
        aggregate,
        plot_meta,
        config.run.dtype == "float64",
    )


_META_CONFIGS = (ZeroSumMetaConfig, GeneralSumMetaConfig, PotentialMetaConfig)


def _plan(config) -> Plan:
    from marlmeta.experiments.compare import compare_plan
    from marlmeta.experiments.config_mpg import MAMLConfig, SoftmaxMPGConfig
    from marlmeta.experiments.softmax import softmax_plan

    if isinstance(
        config, ZeroSumMetaConfig | GeneralSumMetaConfig | PotentialMetaConfig
    ):
        return _meta_plan(config)
    if isinstance(config, CompareConfig):
        return compare_plan(config)
    if isinstance(config, SoftmaxMPGConfig):
        return softmax_plan(config)
    if isinstance(config, MAMLConfig):
        from marlmeta.experiments.maml import maml_plan

        return maml_plan(config)
    raise ConfigError(f"no runner for experiment {config.experiment!r}")


def run_experiment(
    config,
    out_root: str | pathlib.Path = "runs",
    *,
    fresh: bool = False,
    progress: bool = True,
) -> pathlib.Path:
    """Run (or resume) an experiment and write its files. Returns the run folder."""
    plan = _plan(config)
    if plan.float64:
        jax.config.update("jax_enable_x64", True)
    out = pathlib.Path(out_root) / config.name
    fp = fingerprint(config)
    written = out / "config.yaml"
    if written.exists() and not fresh:
        old = yaml.safe_load(written.read_text()) or {}
        if old.get("fingerprint") != fp:
            raise ConfigError(
                f"{out} holds a run of a different config; "
                "pass --fresh to overwrite it or change 'name'"
            )
    if fresh:
        for p in sorted(out.glob("chunks/*.npz")):
            p.unlink()
        (out / "results.json").unlink(missing_ok=True)
    doc = {"fingerprint": fp, **to_dict(config)}
    atomic_write(written, yaml.safe_dump(doc, sort_keys=False).encode())

    parts = []
    bar = tqdm(
        range(plan.units), desc=config.name, unit="chunk", disable=not progress,
        file=sys.stderr,
    )  # fmt: skip
    for i in bar:
        path = out / "chunks" / f"chunk_{i:03d}.npz"
        if path.exists():
            with np.load(path) as z:
                if str(z["fingerprint"]) == fp:
                    parts.append({k: z[k] for k in z.files if k != "fingerprint"})
                    continue
        arrays = {k: np.asarray(v) for k, v in jax.device_get(plan.compute(i)).items()}
        _save_npz(path, {**arrays, "fingerprint": np.array(fp)})
        parts.append(arrays)
    results = plan.aggregate(parts)
    atomic_write(out / "results.json", json.dumps(results, indent=1).encode())
    atomic_write(out / "figure.png", plan.figure(results))
    return out
