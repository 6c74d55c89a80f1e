"""Figures (PNG bytes) from ``results.json`` data; matplotlib only lives here."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_COLORS = {"individual": "tab:blue", "meta": "tab:red"}
_LABELS = {"individual": "individual learning", "meta": "meta-learning"}


def _png(fig, title: str) -> bytes:
    """Finish a figure and encode it as PNG bytes."""
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _band(ax, x, mean, std, label, color):
    mean, std = np.asarray(mean), np.asarray(std)
    ax.plot(x, mean, color=color, label=label, marker="o", markersize=3)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2)


_YLABEL = {
    "nash_conv": "NashConv (NE-gap) of the output policy",
    "cce_gap": "CCE-gap of the output policy",
    "mpg_ne_gap": "NE-gap (seed 000 F.2) of the last iterate",
}


def plot_meta(results: dict) -> bytes:
    """Individual vs meta-learning: (a) the gap, (b) player 0's value, and for
    the zero-sum family (c) the NE policies of the perturbed stage games
    (seed 000 Figure 2)."""
    x, metric = results["checkpoints"], results["metric"]
    panels = 3 if "ne_policies" in results else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.2))
    for label in ("individual", "meta"):
        r, color = results[label], _COLORS[label]
        _band(
            axes[0], x, r[f"{metric}_mean"], r[f"{metric}_std"], _LABELS[label], color
        )
        _band(axes[1], x, r["value_mean"], r["value_std"], _LABELS[label], color)
    sim = results["similarity"]
    axes[0].set(
        xscale="log",
        xlabel="iterations T",
        ylabel=_YLABEL[metric],
        title=f"(a) {metric}   [Delta: meta {sim['meta']:.3g}]",
    )
    axes[1].set(
        xscale="log",
        xlabel="iterations T",
        ylabel="player 0's value",
        title="(b) value",
    )
    if panels == 3:
        ne = results["ne_policies"]
        mu0, nu0 = np.asarray(ne["mu0"]), np.asarray(ne["nu0"])
        for s, marker in zip(range(mu0.shape[1]), "os", strict=False):
            axes[2].scatter(
                mu0[:, s], nu0[:, s], marker=marker, label=f"state {s}", alpha=0.7
            )
        axes[2].set(
            xlim=(-0.05, 1.05),
            ylim=(-0.05, 1.05),
            xlabel="mu_0*",
            ylabel="nu_0*",
            title="(c) NE of the perturbed stage games",
        )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig, results["name"])


def plot_compare(results: dict) -> bytes:
    """(a) mean and median with the 90th percentile per solver; (b) per-game curves."""
    x = results["checkpoints"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, color in zip(results["solvers"], colors, strict=False):
        label = row["label"]
        axes[0].plot(x, row["cce_gap_median"], color=color, label=f"{label}: median")
        axes[0].plot(
            x, row["cce_gap_mean"], color=color, ls=":", label=f"{label}: mean"
        )
        axes[0].fill_between(
            x, row["cce_gap_median"], row["cce_gap_p90"], color=color, alpha=0.2
        )
        for k, curve in enumerate(row["cce_gap_per_game"]):
            axes[1].plot(
                x,
                curve,
                color=color,
                alpha=0.5,
                lw=0.8,
                label=label if k == 0 else None,
            )
    axes[0].set(
        xscale="log",
        xlabel="iterations T",
        ylabel="exact CCE-gap",
        title="(a) median (band up to the 90th percentile), mean dotted",
    )
    axes[1].set(
        xscale="log",
        xlabel="iterations T",
        ylabel="exact CCE-gap",
        title="(b) every game",
    )
    for ax in axes:
        ax.set_yscale("symlog", linthresh=1e-4)  # a CCE-gap may be negative
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig, results["name"])


_SOFTMAX_PANELS = (
    ("ne_gap", "(a) NE-gap", "linear"),
    ("grad_norm", "(b) ||grad Phi||", "linear"),
    ("lojasiewicz", "(c) c(theta)", "log"),
    ("potential", "(d) Phi", "linear"),
)


def plot_softmax(results: dict) -> bytes:
    """Seed 001 Figures 1-3: four panels over iterations ``1..plot_steps``;
    unregularised solvers dashed, log-barrier ones solid. With
    ``trajectory_of``, a second figure half draws that solver's ``Qbar`` and
    policy of the first two players (App. 8)."""
    traj = results.get("trajectory_of")
    fig, axes = plt.subplots(4 if traj else 2, 2, figsize=(11, 16 if traj else 8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    stop = results["plot_steps"]
    for row, color in zip(results["solvers"], colors, strict=False):
        t = np.asarray(row["t"])
        keep = t <= stop
        style = "-" if row["barrier"] > 0 else "--"
        for ax, (field, _, _) in zip(axes.flat, _SOFTMAX_PANELS, strict=False):
            y = np.asarray(row[field])[keep]
            ax.plot(t[keep], y, style, color=color, label=row["label"])
        if row["label"] == traj:
            for k in range(min(2, len(row["qbar_trace"]))):
                for col, (key, name) in enumerate(
                    (("qbar_trace", "Qbar"), ("policy_trace", "pi"))
                ):
                    ax = axes[2 + k, col]
                    y = np.asarray(row[key][k])
                    for a in range(y.shape[1]):
                        ax.plot(t[keep], y[:, a], label=f"action {a + 1}")
                    ax.set(
                        xlabel="iteration t",
                        title=f"{name}_{k + 1} ({traj})",
                    )
                    ax.grid(alpha=0.3)
                    ax.legend(fontsize=8)
    for ax, (_, title, scale) in zip(axes.flat, _SOFTMAX_PANELS, strict=False):
        ax.set(xlabel="iteration t", title=title, yscale=scale)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig, f"{results['name']} ({results['game']}, init {results['init']})")


def plot_maml(results: dict) -> bytes:
    """(a) MAML's meta-objective, (b) NE-gap after T inner steps on the training
    batches, (c) held-out NE-gap against inner steps, by initialisation."""
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
        _band(
            axes[2],
            results["eval_steps"],
            test["ne_gap_mean"],
            test["ne_gap_std"],
            f"from {name} init",
            color,
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
    return _png(fig, results["name"])
